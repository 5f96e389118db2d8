#!/bin/sh
# run.sh boots a bareproxy GOOS=tamago image on QEMU microvm (TCG, no KVM).
#
#   qemu/run.sh ELF [VCPUS [TAP [QEMU-ARGS...]]]
#
#   ELF        image built with -ldflags "-T 0x10010000 -R 0x1000"
#   VCPUS      vCPU count N (default 2); also the number of NIC queue pairs
#   TAP        host TAP name for virtio-net, or "-" for no NIC (default -);
#              if it exists it must be multi_queue (ip tuntap add ... multi_queue)
#   QEMU-ARGS  passed to QEMU last
#
# Environment (each optional):
#   MEM=2G            guest RAM; 2G or more (the DMA region is 0x50000000-0x5fffffff)
#   MAC=52:54:00:12:34:56
#   RSS=on            offer VIRTIO_NET_F_RSS (QEMU computes the Toeplitz hash in
#                     software when its eBPF RSS program cannot load, as here)
#   HASH=off          also offer VIRTIO_NET_F_HASH_REPORT
#   ACCEL=tcg,thread=multi   use "kvm" where /dev/kvm works
#   QEMU=qemu-system-x86_64
#   DRYRUN=1          print the command instead of running it
#
# The exit status is QEMU's: (code<<1)|1 when the guest calls qemu.Exit(code)
# or os.Exit(code) through isa-debug-exit, 0 when the guest triple-faults
# (-no-reboot turns the reset into an exit), and 1 also when QEMU itself fails.
# Run it inside a network namespace with `ip netns exec NS qemu/run.sh ...`.
set -eu

if [ $# -lt 1 ]; then
	sed -n '3,13p' "$0" >&2
	exit 2
fi

elf=$1
vcpus=${2:-2}
tap=${3:--}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift

case $vcpus in
'' | *[!0-9]* | 0) echo "run.sh: vcpu count \"$vcpus\" is not a positive integer" >&2; exit 2 ;;
esac
if [ ! -r "$elf" ]; then
	echo "run.sh: cannot read image \"$elf\"" >&2
	exit 2
fi

mem=${MEM:-2G}
mac=${MAC:-52:54:00:12:34:56}
rss=${RSS:-on}
hash=${HASH:-off}
accel=${ACCEL:-tcg,thread=multi}
qemu=${QEMU:-qemu-system-x86_64}

# microvm: no PIT or PIC (the board calibrates time against the LAPIC timer
# and the RTC), virtio-mmio in modern mode, one socket of N cores because
# tamago counts cores, not sockets.
set -- -accel "$accel" -cpu max \
	-M microvm,x-option-roms=on,pit=off,pic=off,rtc=on \
	-smp "$vcpus,sockets=1,cores=$vcpus" \
	-global virtio-mmio.force-legacy=false \
	-m "$mem" -nographic -no-reboot \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$elf" \
	"$@"

if [ "$tap" != "-" ]; then
	mq=off
	[ "$vcpus" -gt 1 ] && mq=on
	set -- "$@" \
		-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off,queues=$vcpus" \
		-device "virtio-net-device,netdev=n0,mac=$mac,mq=$mq,rss=$rss,hash=$hash"
fi

if [ "${DRYRUN:-}" = 1 ]; then
	echo "$qemu $*"
	exit 0
fi
exec "$qemu" "$@"

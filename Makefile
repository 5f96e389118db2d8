# bareproxy: a bare-metal Go L4/L7 proxy appliance.
#
#   make run     the main job: boot the image in QEMU, or the hosted board
#                where no TamaGo compiler is installed
#   make test    every test (as root: the tests make network namespaces)
#   make bench   the benchmarks, side by side with HAProxy, with ratios

export GOTOOLCHAIN := local

QUEUES      ?= 2
CONFIG      ?= image/examples/l4.cfg
TAMAGO_GO   ?= $(HOME)/.cache/tamago-go/tamago-go1.26.0/bin/go
OUT         := out
TAMAGO      := $(OUT)/tamago
IMAGE       := $(OUT)/bareproxy.elf
HOSTED      := $(OUT)/bareproxy
TOPOLOGY    := qemu/topology.sh
TEST_TIMEOUT ?= 14m
COMMA       := ,

.PHONY: run hosted image qemu test bench clean

run:
	@if [ -x "$(TAMAGO_GO)" ]; then \
		$(MAKE) --no-print-directory qemu; \
	else \
		echo "no TamaGo compiler at $(TAMAGO_GO): running the hosted board instead of the image"; \
		$(MAKE) --no-print-directory hosted; \
	fi

$(HOSTED): FORCE
	@mkdir -p $(OUT)
	go build -o $@ ./image

# hosted runs the appliance as a Linux process on a multiqueue TAP in the
# demo topology, until Ctrl-C.
hosted: $(HOSTED)
	@$(TOPOLOGY) down >/dev/null 2>&1 || true
	@BP_QUEUES=$(QUEUES) $(TOPOLOGY) up
	@echo "send traffic: ip netns exec bp-client curl http://10.77.0.2/   (Ctrl-C stops)"
	@trap '$(TOPOLOGY) down' EXIT INT TERM; \
	ip netns exec bp-hub $(HOSTED) -config $(CONFIG) -tap bp0 -queues $(QUEUES) \
		-addr 10.77.0.2/24 -admin unix:$(OUT)/admin.sock

# The wrapper picks the TamaGo distribution that matches the tamago module
# in go.mod; it is built with the host Go and run with GOOS=tamago.
$(TAMAGO): go.mod
	@mkdir -p $(OUT)
	go build -o $@ github.com/usbarmory/tamago/cmd/tamago

# image checks CONFIG (file:line errors fail the build), then embeds it in
# place of image/embedded.cfg through go build -overlay, so that the tree is
# left untouched.
image: $(TAMAGO)
	@go run ./image/internal/cfgcheck $(CONFIG)
	@printf '{"Replace":{"%s":"%s"}}\n' "$(CURDIR)/image/embedded.cfg" "$(abspath $(CONFIG))" >$(OUT)/overlay.json
	GOOS=tamago GOARCH=amd64 GOOSPKG=github.com/usbarmory/tamago $(TAMAGO) build \
		-trimpath -overlay $(OUT)/overlay.json -ldflags "-s -w -T 0x10010000 -R 0x1000" -o $(IMAGE) ./image
	@echo "$(IMAGE): $$(stat -c %s $(IMAGE)) bytes, embedded config $(CONFIG)"

# qemu boots the image with QUEUES vCPUs and a QUEUES-queue TAP in the demo
# topology, until Ctrl-A X. FWCFG=file overrides the embedded configuration
# at boot through QEMU's fw_cfg (opt/bareproxy/config).
qemu: image
	@$(TOPOLOGY) down >/dev/null 2>&1 || true
	@BP_QUEUES=$(QUEUES) $(TOPOLOGY) up
	@echo "send traffic: ip netns exec bp-client curl http://10.77.0.2/   (QEMU: Ctrl-A X quits)"
	@trap '$(TOPOLOGY) down' EXIT INT TERM; \
	ip netns exec bp-hub qemu/run.sh $(IMAGE) $(QUEUES) bp0 \
		$(if $(FWCFG),-fw_cfg name=opt/bareproxy/config$(COMMA)file=$(abspath $(FWCFG)))

# Packages run one at a time (-p 1): the end-to-end tests time real peers
# and TCG guests, which must not share the two CI cores with another
# package's CPU-bound tests.
test:
	go vet ./...
	go test -p 1 -count=1 -timeout $(TEST_TIMEOUT) ./...

# bench runs every figure of issue 5 in one go (about 2 minutes; 12 wrk
# runs of BENCH_DURATION each) with go run ./bench, and ends with one table:
# figure, measured, target, met?. The image size is in it only where the
# TamaGo compiler is installed. As root: the end-to-end part makes network
# namespaces (it is skipped otherwise).
BENCH_DURATION ?= 5s
bench:
	BP_BENCH_DURATION=$(BENCH_DURATION) go run ./bench \
		$(if $(wildcard $(TAMAGO_GO)),-image $(IMAGE),-image-note "no TamaGo compiler at $(TAMAGO_GO)")

clean:
	rm -rf $(OUT)

FORCE:

module github.com/bareproxy/bareproxy

go 1.26.0

require (
	github.com/cilium/ebpf v0.22.0
	github.com/google/gopacket v1.1.19
	github.com/prometheus/client_model v0.6.2
	github.com/prometheus/common v0.67.4
	github.com/usbarmory/tamago v1.26.0
	golang.org/x/net v0.48.0
	golang.org/x/sys v0.49.0
	gvisor.dev/gvisor v0.0.0-20250911055229-61a46406f068
)

require (
	github.com/google/btree v1.1.2 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	go.yaml.in/yaml/v2 v2.4.3 // indirect
	golang.org/x/time v0.7.0 // indirect
	google.golang.org/protobuf v1.36.10 // indirect
)

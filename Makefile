# smpgo: a bare-metal x86-64 SMP kernel in Go.
#
#   make run        boot in QEMU (-smp 4) on the serial console
#   make test       host tests, lint, and the QEMU smoke matrix
#   make test-full  the whole QEMU matrix
#   make bench      in-kernel benchmarks
#   make build      build/kernel.elf and build/kernel.img
#   make examples   build/primes.img and build/wordfreq.img (examples/)
#   make image      build/smpgo.iso: bootable CD/USB image, BIOS and UEFI (GRUB, multiboot2)

GO        ?= go
BUILD     := build
KPKG      := ./boot/kernel
SMP       ?= 4
QEMUFLAGS ?=
# NETFLAGS: make run's NIC and the services forwarded to 127.0.0.1 (README).
NETFLAGS  ?= -nic e1000 -hostfwd tcp:127.0.0.1:10007-:7 -hostfwd tcp:127.0.0.1:10009-:9 \
	-hostfwd tcp:127.0.0.1:10019-:19 -hostfwd tcp:127.0.0.1:10080-:80

.PHONY: all build examples image run test test-host test-qemu test-full lint bench deps deps-image clean

all: build

build: $(BUILD)/kernel.img

# The kernel is an application like any other (package smpgo): cmd/smpgo
# links it with the kernel's flags (boot/app) and writes kernel.img and
# kernel.elf beside it.
$(BUILD)/kernel.img: FORCE
	@mkdir -p $(BUILD)
	$(GO) run ./cmd/smpgo build -o $@ $(KPKG)

$(BUILD)/kernel.elf: $(BUILD)/kernel.img

FORCE:

examples:
	@mkdir -p $(BUILD)
	for d in examples/*/; do $(GO) run ./cmd/smpgo build -o $(BUILD)/$$(basename $$d).img ./$$d || exit 1; done

# image is the hybrid ISO for CDs and USB sticks, BIOS and UEFI
# (tools/mkiso.sh, boot/grub/grub.cfg); GRUB's tools are installed when
# missing.
image: $(BUILD)/smpgo.iso

$(BUILD)/smpgo.iso: $(BUILD)/kernel.img boot/grub/grub.cfg tools/mkiso.sh
	@bash tools/deps.sh image
	bash tools/mkiso.sh $@ $(BUILD)/kernel.img

# deps installs QEMU when it is missing (Debian packages, as root).
deps:
	@bash tools/deps.sh qemu

deps-image:
	@bash tools/deps.sh image

run: deps build
	$(GO) run ./qemu/cmd/qemurun -i -smp $(SMP) $(NETFLAGS) $(QEMUFLAGS) -kernel $(BUILD)/kernel.img -- $(ARGS)

lint:
	@echo "== gofmt"; out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@echo "== go vet"; $(GO) vet ./...
	@echo "== staticcheck"; $(GO) tool staticcheck ./...

test-host:
	$(GO) test ./...

test-qemu: deps-image build image
	SMPGO_QEMU=smoke $(GO) test -count=1 -v -run TestBoots -timeout 14m ./qemu/

test:
	@bash tools/test.sh smoke

test-full:
	@bash tools/test.sh full

# bench boots the in-kernel benchmarks at 1, 2 and 4 CPUs and prints them
# side by side with ratios and boot times (BENCH=regexp to select,
# BENCHARGS=kernel options, e.g. witness=off).
BENCH ?= .
BENCHARGS ?=
bench: deps build
	$(GO) run ./qemu/cmd/qemubench -smp 1,2,4 -bench '$(BENCH)' -args '$(BENCHARGS)' -kernel $(BUILD)/kernel.img

clean:
	rm -rf $(BUILD)

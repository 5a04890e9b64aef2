// Package virtio is the virtio 1.x device layer over PCI: the modern PCI
// transport (common, notify, ISR and device configuration structures
// found through vendor-specific capabilities), feature negotiation with
// VIRTIO_F_VERSION_1, the device status handshake, and split virtqueues
// whose descriptor table, driver (avail) ring and device (used) ring live
// in physically contiguous vm pages. Device drivers (drivers/virtio/net)
// build on it.
//
// It follows "Virtual I/O Device (VIRTIO) Version 1.2" (OASIS, 2022):
// §2.1 device status, §2.2 feature bits, §2.7 split virtqueues (with
// §2.7.7/§2.7.10 used-buffer and available-buffer notification
// suppression, VIRTIO_F_EVENT_IDX), §3.1 device initialization, §4.1
// virtio over PCI bus (§4.1.4 capabilities, §4.1.4.3 common
// configuration, §4.1.4.4 notifications, §4.1.4.5 ISR status, §4.1.5.1.2
// MSI-X vector configuration). Names follow the specification's.
//
// The parts without hardware — feature negotiation and the handshake
// over a [Transport], capability parsing, the split-ring encoding and
// index arithmetic — are plain Go tested on the host with fakes; pci.go
// is the transport over real (emulated) registers.
package virtio

// PCI IDs (§4.1.2): vendor 0x1af4; a modern device is 0x1040 + its
// virtio device ID, a transitional one 0x1000-0x103f.
const (
	PCI_VENDOR_ID         = 0x1af4
	PCI_DEVICE_ID_MODERN  = 0x1040
	PCI_DEVICE_ID_NET_TRN = 0x1000 // transitional network device

	DEVICE_ID_NET = 1 // virtio device ID (§5)
)

// Device status bits (§2.1).
const (
	STATUS_ACKNOWLEDGE        = 1
	STATUS_DRIVER             = 2
	STATUS_DRIVER_OK          = 4
	STATUS_FEATURES_OK        = 8
	STATUS_DEVICE_NEEDS_RESET = 64
	STATUS_FAILED             = 128
)

// Reserved feature bits (§6): device-independent.
const (
	F_INDIRECT_DESC            = 28
	F_EVENT_IDX                = 29
	F_VERSION_1                = 32
	F_ACCESS_PLATFORM          = 33
	F_RING_PACKED              = 34
	F_IN_ORDER                 = 35
	F_ORDER_PLATFORM           = 36
	F_SR_IOV                   = 37
	F_NOTIFICATION_DATA        = 38
	F_RING_RESET               = 40
	F_NOTIF_CONFIG_DATA        = 39
	MSI_NO_VECTOR       uint16 = 0xffff // §4.1.5.1.2: no MSI-X vector
)

// ISR status bits (§4.1.4.5): reading the ISR clears it and deasserts
// INTx.
const (
	ISR_QUEUE  = 1 << 0
	ISR_CONFIG = 1 << 1
)

// PCI capability cfg_type values (§4.1.4).
const (
	PCI_CAP_COMMON_CFG        = 1
	PCI_CAP_NOTIFY_CFG        = 2
	PCI_CAP_ISR_CFG           = 3
	PCI_CAP_DEVICE_CFG        = 4
	PCI_CAP_PCI_CFG           = 5
	PCI_CAP_SHARED_MEMORY_CFG = 8
	PCI_CAP_VENDOR_CFG        = 9
)

// struct virtio_pci_cap field offsets (§4.1.4), after the generic
// capability header (cap_vndr, cap_next).
const (
	CAP_LEN                   = 2
	CAP_CFG_TYPE              = 3
	CAP_BAR                   = 4
	CAP_ID                    = 5
	CAP_OFFSET                = 8
	CAP_LENGTH                = 12
	CAP_NOTIFY_OFF_MULTIPLIER = 16 // struct virtio_pci_notify_cap only
)

// struct virtio_pci_common_cfg offsets (§4.1.4.3).
const (
	COMMON_DEVICE_FEATURE_SELECT = 0x00 // le32
	COMMON_DEVICE_FEATURE        = 0x04 // le32, read-only
	COMMON_DRIVER_FEATURE_SELECT = 0x08 // le32
	COMMON_DRIVER_FEATURE        = 0x0c // le32
	COMMON_CONFIG_MSIX_VECTOR    = 0x10 // le16
	COMMON_NUM_QUEUES            = 0x12 // le16, read-only
	COMMON_DEVICE_STATUS         = 0x14 // u8
	COMMON_CONFIG_GENERATION     = 0x15 // u8, read-only
	COMMON_QUEUE_SELECT          = 0x16 // le16
	COMMON_QUEUE_SIZE            = 0x18 // le16
	COMMON_QUEUE_MSIX_VECTOR     = 0x1a // le16
	COMMON_QUEUE_ENABLE          = 0x1c // le16
	COMMON_QUEUE_NOTIFY_OFF      = 0x1e // le16, read-only
	COMMON_QUEUE_DESC            = 0x20 // le64
	COMMON_QUEUE_DRIVER          = 0x28 // le64
	COMMON_QUEUE_DEVICE          = 0x30 // le64
	COMMON_CFG_MIN_LEN           = 0x38
)

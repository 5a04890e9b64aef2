package virtio

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeTransport is a device's common configuration as the handshake
// sees it (§3.1.1), with knobs for misbehaviour.
type fakeTransport struct {
	status       uint8
	offered      Features
	driver       Features
	refuse       bool // clears FEATURES_OK (feature set not acceptable)
	stuck        bool // never completes a reset
	needsReset   bool
	writes       []uint8
	gen          uint8
	genFlips     int // config generation changes during the next reads
	cfg          map[int]uint32
	queueVectors map[int]uint16
}

func (f *fakeTransport) Status() uint8 {
	s := f.status
	if f.needsReset {
		s |= STATUS_DEVICE_NEEDS_RESET
	}
	return s
}
func (f *fakeTransport) SetStatus(s uint8) {
	f.writes = append(f.writes, s)
	if s == 0 && f.stuck {
		return
	}
	if s&STATUS_FEATURES_OK != 0 && f.refuse {
		s &^= STATUS_FEATURES_OK
	}
	f.status = s
}
func (f *fakeTransport) DeviceFeatures() Features        { return f.offered }
func (f *fakeTransport) SetDriverFeatures(x Features)    { f.driver = x }
func (f *fakeTransport) NumQueues() int                  { return 2 }
func (f *fakeTransport) QueueMaxSize(q int) int          { return 256 }
func (f *fakeTransport) SetConfigVector(v uint16) uint16 { return v }
func (f *fakeTransport) Notify(q int)                    {}
func (f *fakeTransport) ISR() uint8                      { return 0 }
func (f *fakeTransport) SetupQueue(q, size int, desc, driver, device uint64, vector uint16) (uint16, error) {
	if f.queueVectors == nil {
		f.queueVectors = map[int]uint16{}
	}
	f.queueVectors[q] = vector
	return vector, nil
}
func (f *fakeTransport) ConfigGeneration() uint8 {
	if f.genFlips > 0 {
		f.genFlips--
		f.gen++
	}
	return f.gen
}
func (f *fakeTransport) ReadConfig(off, size int) uint32 { return f.cfg[off] }

func TestNegotiate(t *testing.T) {
	dev := Bit(F_VERSION_1) | Bit(F_EVENT_IDX) | Bit(5) | Bit(16) | Bit(F_RING_PACKED)
	got, err := Negotiate(dev, Bit(5)|Bit(15)|Bit(F_EVENT_IDX), 0)
	require.NoError(t, err)
	assert.Equal(t, Bit(F_VERSION_1)|Bit(F_EVENT_IDX)|Bit(5), got, "offered ∩ supported, VERSION_1 always")

	_, err = Negotiate(dev&^Bit(F_VERSION_1), Bit(5), 0)
	assert.ErrorIs(t, err, ErrNoVersion1, "legacy-only device")

	_, err = Negotiate(dev, 0, Bit(15))
	assert.ErrorContains(t, err, "lacks required features 0x8000")

	got, err = Negotiate(dev, 0, Bit(16))
	require.NoError(t, err)
	assert.Equal(t, Bit(F_VERSION_1)|Bit(16), got)
}

func TestBeginAndDriverOK(t *testing.T) {
	f := &fakeTransport{status: STATUS_DRIVER_OK | STATUS_FEATURES_OK, offered: Bit(F_VERSION_1) | Bit(5) | Bit(7)}
	got, err := Begin(f, Bit(5), 0)
	require.NoError(t, err)
	assert.Equal(t, Bit(F_VERSION_1)|Bit(5), got)
	assert.Equal(t, got, f.driver, "driver features written")
	assert.Equal(t, []uint8{0, STATUS_ACKNOWLEDGE, STATUS_ACKNOWLEDGE | STATUS_DRIVER,
		STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK}, f.writes, "§3.1.1 order")
	require.NoError(t, DriverOK(f))
	assert.Equal(t, uint8(STATUS_ACKNOWLEDGE|STATUS_DRIVER|STATUS_FEATURES_OK|STATUS_DRIVER_OK), f.status)

	f.needsReset = true
	assert.Error(t, DriverOK(f), "DEVICE_NEEDS_RESET after DRIVER_OK")
}

func TestBeginFailures(t *testing.T) {
	f := &fakeTransport{offered: Bit(F_VERSION_1), refuse: true}
	_, err := Begin(f, 0, 0)
	assert.ErrorContains(t, err, "FEATURES_OK not kept")
	assert.NotZero(t, f.status&STATUS_FAILED, "FAILED set")

	f = &fakeTransport{offered: Bit(5)}
	_, err = Begin(f, Bit(5), 0)
	assert.ErrorIs(t, err, ErrNoVersion1)
	assert.NotZero(t, f.status&STATUS_FAILED)

	old := ResetTimeout
	ResetTimeout = 20 * time.Millisecond
	defer func() { ResetTimeout = old }()
	f = &fakeTransport{status: STATUS_DRIVER_OK, offered: Bit(F_VERSION_1), stuck: true}
	start := time.Now()
	_, err = Begin(f, 0, 0)
	assert.ErrorIs(t, err, ErrResetTimeout, "a device that never reads 0 is not waited for forever")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestReadConfigStable(t *testing.T) {
	f := &fakeTransport{genFlips: 3, cfg: map[int]uint32{0: 42}}
	reads := 0
	var v uint32
	require.NoError(t, ReadConfigStable(f, func() { reads++; v = f.ReadConfig(0, 4) }))
	assert.Equal(t, uint32(42), v)
	assert.Equal(t, 2, reads, "re-read while the generation moved")

	f.genFlips = 1 << 20
	assert.Error(t, ReadConfigStable(f, func() {}), "bounded")
}

func TestFeaturesFormat(t *testing.T) {
	f := Bit(5) | Bit(7) | Bit(F_VERSION_1)
	assert.Equal(t, "MAC,bit7,VERSION_1", f.Format(map[int]string{5: "MAC"}))
}

package firehose

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"testing"
)

// countingConn records the write(2)-level calls a batchConn makes.
type countingConn struct {
	net.Conn
	writes int
	buf    bytes.Buffer
	fail   error
}

func (c *countingConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes++
	return c.buf.Write(p)
}

func TestBatchConn(t *testing.T) {
	under := &countingConn{}
	c := &batchConn{Conn: under, bw: bufio.NewWriterSize(under, 64<<10)}

	// Outside a batch every write goes straight through.
	for _, m := range []string{"handshake", "ping"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if under.writes != 2 {
		t.Fatalf("%d underlying writes outside a batch, want 2", under.writes)
	}
	// In a batch, 100 small frames leave in one write at end.
	c.begin()
	var want bytes.Buffer
	want.WriteString("handshakeping")
	for i := 0; i < 100; i++ {
		f := bytes.Repeat([]byte{byte(i)}, 300)
		want.Write(f)
		if _, err := c.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if under.writes != 2 {
		t.Fatalf("frames were written before the batch ended (%d writes)", under.writes)
	}
	// The last frame flushes the batch and then goes out itself.
	c.last()
	lastFrame := []byte("last frame")
	want.Write(lastFrame)
	if _, err := c.Write(lastFrame); err != nil {
		t.Fatal(err)
	}
	if under.writes != 4 {
		t.Fatalf("%d underlying writes after the last frame, want 4 (flush + frame)", under.writes)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if under.writes != 4 {
		t.Fatalf("end wrote again although nothing was left (%d writes)", under.writes)
	}
	if !bytes.Equal(under.buf.Bytes(), want.Bytes()) {
		t.Fatal("bytes were reordered or lost")
	}
	// A frame bigger than the buffer still arrives whole and in order.
	c.begin()
	if _, err := c.Write([]byte("small")); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("B"), 200<<10)
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if err := c.end(); err != nil {
		t.Fatal(err)
	}
	if got := under.buf.Bytes(); !bytes.HasSuffix(got, append([]byte("small"), big...)) {
		t.Fatal("a big frame was mangled")
	}
	// A failed flush is reported, and the connection stays failed.
	under.fail = errors.New("peer gone")
	c.begin()
	if _, err := c.Write([]byte("lost")); err != nil { // only buffered: the flush fails
		t.Fatal(err)
	}
	if err := c.end(); err == nil {
		t.Fatal("end did not report the failed flush")
	}
	if _, err := c.Write([]byte("more")); err == nil {
		t.Fatal("a write after a failed flush succeeded")
	}
}

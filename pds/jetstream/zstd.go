package jetstream

import (
	"fmt"

	"github.com/klauspost/compress/zstd"
)

// compressor compresses messages as Jetstream does for subscribers that ask
// for zstd (compress=true or Socket-Encoding: zstd): each message on its own,
// with Jetstream's dictionary (which its clients embed) and a 128 KiB
// window. Hearth does not ship that dictionary; the operator passes it
// (Config.ZstdDictionary, hearthd's --jetstream-zstd-dictionary), and
// without it such subscribers are refused.
type compressor struct {
	enc *zstd.Encoder
}

func newCompressor(dict []byte) (*compressor, error) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDict(dict), zstd.WithWindowSize(1<<17), zstd.WithEncoderConcurrency(4))
	if err != nil {
		return nil, fmt.Errorf("load the zstd dictionary: %w", err)
	}
	return &compressor{enc: enc}, nil
}

func (c *compressor) compress(msg []byte) []byte { return c.enc.EncodeAll(msg, nil) }

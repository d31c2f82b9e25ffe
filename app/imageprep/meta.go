package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
)

// jpegSegments is what scanJPEG found: the byte ranges of metadata
// segments to cut and the EXIF orientation (0 when none).
type jpegSegments struct {
	cut         [][2]int
	orientation int
}

// scanJPEG walks the markers before the image data. APP1 (EXIF, XMP),
// APP13 (IPTC/Photoshop) and COM segments are metadata to cut; APP0
// (JFIF), APP2 (ICC colour profile) and APP14 (Adobe colour transform) are
// kept because decoders need them to show the right colours.
func scanJPEG(b []byte) (*jpegSegments, error) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, errors.New("no JPEG start marker")
	}
	s := &jpegSegments{}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return nil, errors.New("bad JPEG marker")
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0xDA || m == 0xD9 { // start of scan / end of image: metadata is before
			return s, nil
		}
		if m >= 0xD0 && m <= 0xD7 || m == 0x01 { // no length
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil, errors.New("truncated JPEG segment")
		}
		seg := b[i+4 : i+2+n]
		switch {
		case m == 0xE1:
			if bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
				if o := exifOrientation(seg[6:]); o > 0 {
					s.orientation = o
				}
			}
			s.cut = append(s.cut, [2]int{i, i + 2 + n})
		case m == 0xED || m == 0xFE || (m >= 0xE3 && m <= 0xEF && m != 0xEE):
			s.cut = append(s.cut, [2]int{i, i + 2 + n})
		}
		i += 2 + n
	}
	return s, nil
}

// stripped returns b without the metadata segments.
func (s *jpegSegments) stripped(b []byte) []byte {
	if len(s.cut) == 0 {
		return b
	}
	out := make([]byte, 0, len(b))
	last := 0
	for _, c := range s.cut {
		out = append(out, b[last:c[0]]...)
		last = c[1]
	}
	return append(out, b[last:]...)
}

// exifOrientation reads tag 0x0112 of IFD0 from a TIFF block (0: none or
// unreadable).
func exifOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 0
	}
	n := int(bo.Uint16(t[off:]))
	for k := 0; k < n; k++ {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 0
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 {
			if v := int(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 0
		}
	}
	return 0
}

// orient turns img upright for EXIF orientation o (1..8).
func orient(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}

// pngKeep are the PNG chunks kept: the image itself and what decoders need
// for its colours; everything else (eXIf, tEXt, zTXt, iTXt, tIME and
// private chunks) is metadata and goes.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true, "tRNS": true,
	"gAMA": true, "cHRM": true, "sRGB": true, "iCCP": true, "sBIT": true, "pHYs": true,
	"acTL": true, "fcTL": true, "fdAT": true, // APNG animation
}

// stripPNG removes metadata chunks, checking each chunk's CRC.
func stripPNG(b []byte) ([]byte, bool, error) {
	const sig = "\x89PNG\r\n\x1a\n"
	if !bytes.HasPrefix(b, []byte(sig)) {
		return nil, false, errors.New("no PNG signature")
	}
	out := append(make([]byte, 0, len(b)), sig...)
	removed := false
	for i := len(sig); i < len(b); {
		if i+12 > len(b) {
			return nil, false, errors.New("truncated PNG chunk")
		}
		n := int(binary.BigEndian.Uint32(b[i:]))
		end := i + 12 + n
		if n < 0 || end > len(b) || end < i {
			return nil, false, errors.New("truncated PNG chunk")
		}
		typ := string(b[i+4 : i+8])
		if crc32.ChecksumIEEE(b[i+4:i+8+n]) != binary.BigEndian.Uint32(b[i+8+n:]) {
			return nil, false, errors.New("damaged PNG chunk " + typ)
		}
		if pngKeep[typ] {
			out = append(out, b[i:end]...)
		} else {
			removed = true
		}
		i = end
		if typ == "IEND" {
			break
		}
	}
	return out, removed, nil
}

package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"testing"
)

// noisy makes a w×h picture that compresses badly (like a photo).
func noisy(w, h int, alpha bool) *image.NRGBA {
	r := rand.New(rand.NewPCG(1, 2))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 128
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(r.IntN(256)), uint8(x * 255 / w), uint8(y * 255 / h), a})
		}
	}
	return img
}

// smooth makes a w×h gradient, half see-through when alpha.
func smooth(w, h int, alpha bool) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			a := uint8(255)
			if alpha && x < w/2 {
				a = 128
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / w), uint8(y * 255 / h), 90, a})
		}
	}
	return img
}

func jpegOf(t *testing.T, img image.Image, q int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngOf(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gpsLatitude is a marker in the GPS block the tests look for afterwards.
var gpsLatitude = []byte{0, 0, 0, 51, 0, 0, 0, 1, 0, 0, 0, 30, 0, 0, 0, 1, 0, 0, 0x12, 0x34, 0, 0, 0, 100}

// exifAPP1 builds an APP1 EXIF segment (big-endian TIFF) with the given
// orientation and a GPS IFD holding latitude 51° 30' 46.6" N.
func exifAPP1(orientation uint16) []byte {
	be := binary.BigEndian
	t := []byte("MM\x00\x2a\x00\x00\x00\x08")
	// IFD0 at 8: 2 entries (Orientation, GPSInfo pointer), next IFD 0.
	ifd0 := make([]byte, 2+2*12+4)
	be.PutUint16(ifd0, 2)
	be.PutUint16(ifd0[2:], 0x0112)
	be.PutUint16(ifd0[4:], 3)
	be.PutUint32(ifd0[6:], 1)
	be.PutUint16(ifd0[10:], orientation)
	gpsOff := 8 + len(ifd0)
	be.PutUint16(ifd0[14:], 0x8825)
	be.PutUint16(ifd0[16:], 4)
	be.PutUint32(ifd0[18:], 1)
	be.PutUint32(ifd0[22:], uint32(gpsOff))
	t = append(t, ifd0...)
	// GPS IFD: LatitudeRef "N", Latitude (3 rationals, stored after the IFD).
	gps := make([]byte, 2+2*12+4)
	be.PutUint16(gps, 2)
	be.PutUint16(gps[2:], 1)
	be.PutUint16(gps[4:], 2)
	be.PutUint32(gps[6:], 2)
	copy(gps[10:], "N\x00")
	be.PutUint16(gps[14:], 2)
	be.PutUint16(gps[16:], 5)
	be.PutUint32(gps[18:], 3)
	be.PutUint32(gps[22:], uint32(gpsOff+len(gps)))
	t = append(t, gps...)
	t = append(t, gpsLatitude...)
	payload := append([]byte("Exif\x00\x00"), t...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	be.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// withEXIF inserts an EXIF segment right after the JPEG's start marker.
func withEXIF(j []byte, orientation uint16) []byte {
	out := append([]byte{}, j[:2]...)
	out = append(out, exifAPP1(orientation)...)
	return append(out, j[2:]...)
}

// pngChunk builds one PNG chunk.
func pngChunk(typ string, data []byte) []byte {
	c := make([]byte, 8, 12+len(data))
	binary.BigEndian.PutUint32(c, uint32(len(data)))
	copy(c[4:], typ)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// withPNGText inserts a tEXt chunk (a GPS note, as some phones write)
// after IHDR.
func withPNGText(p []byte) []byte {
	const ihdrEnd = 8 + 25
	out := append([]byte{}, p[:ihdrEnd]...)
	out = append(out, pngChunk("tEXt", []byte("GPS\x0051.5129 N, 0.1301 W"))...)
	return append(out, p[ihdrEnd:]...)
}

func decode(t *testing.T, r *Result) image.Image {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(r.Data))
	if err != nil {
		t.Fatalf("result does not decode: %v", err)
	}
	if "image/"+format != r.MimeType {
		t.Fatalf("result is %s, labelled %s", format, r.MimeType)
	}
	if b := img.Bounds(); b.Dx() != r.Width || b.Dy() != r.Height {
		t.Fatalf("result is %dx%d, reported %dx%d", b.Dx(), b.Dy(), r.Width, r.Height)
	}
	return img
}

func TestPrepare(t *testing.T) {
	small := noisy(400, 300, false)
	smallJPEG := jpegOf(t, small, 85)
	bigJPEG := jpegOf(t, noisy(3000, 1500, false), 97)
	if len(bigJPEG) < 2_000_000 {
		t.Fatalf("test photo is only %d bytes", len(bigJPEG))
	}
	webp, err := os.ReadFile("testdata/blue-purple-pink.lossy.webp")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		in        []byte
		lim       Limits
		mime      string
		w, h      int
		reencoded bool
		stripped  bool
	}{
		{"small JPEG with EXIF GPS: cut out, pixels untouched", withEXIF(smallJPEG, 1), Post, "image/jpeg", 400, 300, false, true},
		{"small JPEG without metadata: as it was", smallJPEG, Post, "image/jpeg", 400, 300, false, false},
		{"JPEG rotated by EXIF (6): turned upright, EXIF gone", withEXIF(smallJPEG, 6), Post, "image/jpeg", 300, 400, true, true},
		{"big photo with GPS: scaled to 2000 px and under 1 MB", withEXIF(bigJPEG, 1), Post, "image/jpeg", 2000, 1000, true, true},
		{"big photo as an avatar: 1000 px", bigJPEG, Avatar, "image/jpeg", 1000, 500, true, false},
		{"PNG with a text chunk: chunk removed", withPNGText(pngOf(t, small)), Post, "image/png", 400, 300, false, true},
		{"PNG with transparency over the limit: stays PNG", pngOf(t, smooth(2400, 1200, true)), Post, "image/png", 2000, 1000, true, false},
		{"photo-like PNG with transparency: scaled until it fits", pngOf(t, noisy(1200, 600, true)), Post, "image/png", 0, 0, true, false},
		{"opaque PNG over the byte limit: JPEG", pngOf(t, noisy(1200, 900, false)), Post, "image/jpeg", 1200, 900, true, false},
		{"WebP: re-encoded (metadata lives in its container)", webp, Post, "image/jpeg", 0, 0, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Prepare(tc.in, tc.lim)
			if err != nil {
				t.Fatal(err)
			}
			decode(t, r)
			if r.MimeType != tc.mime || r.Reencoded != tc.reencoded || r.Stripped != tc.stripped {
				t.Fatalf("got %s reencoded=%v stripped=%v", r.MimeType, r.Reencoded, r.Stripped)
			}
			if tc.w > 0 && (r.Width != tc.w || r.Height != tc.h) {
				t.Fatalf("got %dx%d, want %dx%d", r.Width, r.Height, tc.w, tc.h)
			}
			if in, _, err := image.DecodeConfig(bytes.NewReader(tc.in)); err == nil && r.Width != in.Height { // (not the rotated case)
				if d := float64(r.Width)/float64(r.Height) - float64(in.Width)/float64(in.Height); d > 0.01 || d < -0.01 {
					t.Fatalf("aspect ratio changed: %dx%d from %dx%d", r.Width, r.Height, in.Width, in.Height)
				}
			}
			if len(r.Data) > tc.lim.MaxBytes || max(r.Width, r.Height) > tc.lim.MaxDim {
				t.Fatalf("%d bytes, %dx%d: over %+v", len(r.Data), r.Width, r.Height, tc.lim)
			}
			for _, leak := range [][]byte{[]byte("Exif"), gpsLatitude, []byte("tEXt"), []byte("51.5129")} {
				if bytes.Contains(r.Data, leak) {
					t.Fatalf("metadata %q is still in the result", leak)
				}
			}
			if !tc.reencoded && !tc.stripped && !bytes.Equal(r.Data, tc.in) {
				t.Fatal("a clean picture within the limits was changed")
			}
		})
	}
}

func TestPrepareRefuses(t *testing.T) {
	// A PNG header claiming 100000×100000 pixels: refused before decoding.
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr, 100000)
	binary.BigEndian.PutUint32(ihdr[4:], 100000)
	ihdr[8], ihdr[9] = 8, 6
	bomb := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	bomb = append(bomb, pngChunk("IEND", nil)...)
	// A JPEG cut off inside its EXIF segment.
	cut := withEXIF(jpegOf(t, noisy(50, 50, false), 80), 1)[:30]
	for name, in := range map[string][]byte{"not a picture": []byte("hello, world"), "empty": nil, "pixel bomb": bomb, "truncated JPEG": cut} {
		if r, err := Prepare(in, Post); err == nil {
			t.Errorf("%s: accepted (%s, %d bytes)", name, r.MimeType, len(r.Data))
		}
	}
	if _, err := Prepare([]byte("hello"), Post); !errors.Is(err, ErrNotImage) {
		t.Errorf("not a picture: %v", err)
	}
}

func TestOrientationMovesPixels(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 3, 2))
	img.Set(0, 0, color.RGBA{255, 0, 0, 255}) // top-left red
	for o, want := range map[int]image.Point{1: {0, 0}, 3: {2, 1}, 6: {1, 0}, 8: {0, 2}} {
		got := orient(img, o)
		if r, _, _, _ := got.At(want.X, want.Y).RGBA(); r>>8 != 255 {
			t.Errorf("orientation %d: red not at %v", o, want)
		}
	}
}

func BenchmarkPreparePhoto(b *testing.B) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, noisy(4000, 3000, false), &jpeg.Options{Quality: 95}); err != nil {
		b.Fatal(err)
	}
	in := buf.Bytes()
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Prepare(in, Post); err != nil {
			b.Fatal(err)
		}
	}
}

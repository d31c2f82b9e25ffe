// Package imageprep readies a picture for Bluesky the way the Bluesky app
// does before it uploads one: metadata that can give a person away (EXIF,
// with its GPS position, and text chunks) is removed, a picture over the
// size or dimension limits is scaled down and re-encoded, and the final
// width and height are reported for the embed's aspectRatio.
//
// A picture already within the limits keeps its pixels: JPEG and PNG
// metadata are cut out of the file without re-encoding (a JPEG whose EXIF
// says it is rotated is turned upright first, since the rotation note goes
// with the EXIF). WebP is always re-encoded (to JPEG, or PNG when it has
// transparency), since its metadata sits inside the same container.
package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registers the WebP decoder
)

// Limits bound a prepared picture.
type Limits struct {
	MaxBytes int // encoded size
	MaxDim   int // longest side, in pixels
}

// The limits the Bluesky app uses: post images and avatars up to
// 1,000,000 bytes (the lexicons' maxSize); post images scaled to 2000 px
// on the longest side, avatars to 1000 px, banners to 3000 px.
var (
	Post   = Limits{MaxBytes: 1_000_000, MaxDim: 2000}
	Avatar = Limits{MaxBytes: 1_000_000, MaxDim: 1000}
	Banner = Limits{MaxBytes: 1_000_000, MaxDim: 3000}
)

// MaxPixels refuses pictures whose header claims more pixels than this
// before anything is decoded (a small file can claim a huge canvas).
const MaxPixels = 80_000_000

// ErrNotImage is returned for data that is no PNG, JPEG, GIF or WebP.
var ErrNotImage = errors.New("not a PNG, JPEG, GIF or WebP picture")

// Result is a prepared picture.
type Result struct {
	Data          []byte
	MimeType      string
	Width, Height int  // after any rotation and scaling: the aspect ratio
	Reencoded     bool // the pixels were decoded and encoded again
	Resized       bool // scaled down to fit the limits
	Stripped      bool // metadata (EXIF, text chunks) was removed
}

// Prepare readies data for upload under lim.
func Prepare(data []byte, lim Limits) (*Result, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, ErrNotImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > MaxPixels {
		return nil, fmt.Errorf("the picture is %d×%d pixels: too large to open (at most %d million pixels)", cfg.Width, cfg.Height, MaxPixels/1_000_000)
	}
	fits := len(data) <= lim.MaxBytes && max(cfg.Width, cfg.Height) <= lim.MaxDim
	switch format {
	case "jpeg":
		seg, err := scanJPEG(data)
		if err != nil {
			return nil, fmt.Errorf("read the JPEG: %w", err)
		}
		if fits && seg.orientation <= 1 {
			out := seg.stripped(data)
			return &Result{Data: out, MimeType: "image/jpeg", Width: cfg.Width, Height: cfg.Height, Stripped: len(out) != len(data)}, nil
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode the JPEG: %w", err)
		}
		return encode(orient(img, seg.orientation), lim, true, len(seg.cut) > 0)
	case "png":
		if fits {
			out, removed, err := stripPNG(data)
			if err != nil {
				return nil, fmt.Errorf("read the PNG: %w", err)
			}
			return &Result{Data: out, MimeType: "image/png", Width: cfg.Width, Height: cfg.Height, Stripped: removed}, nil
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode the PNG: %w", err)
		}
		_, removed, _ := stripPNG(data)
		return encode(img, lim, false, removed)
	case "gif":
		if fits { // GIFs carry no EXIF; an animation stays animated
			return &Result{Data: data, MimeType: "image/gif", Width: cfg.Width, Height: cfg.Height}, nil
		}
		img, err := gif.Decode(bytes.NewReader(data)) // the first frame
		if err != nil {
			return nil, fmt.Errorf("decode the GIF: %w", err)
		}
		return encode(img, lim, false, false)
	case "webp":
		img, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("decode the WebP: %w", err)
		}
		return encode(img, lim, false, true)
	}
	return nil, ErrNotImage
}

// encode scales img to fit lim and encodes it: JPEG for opaque pictures
// (quality lowered step by step until the bytes fit), PNG for pictures with
// transparency (scaled down further until they fit).
func encode(img image.Image, lim Limits, wasJPEG, stripped bool) (*Result, error) {
	b := img.Bounds()
	origW, origH := b.Dx(), b.Dy()
	w, h := fit(origW, origH, lim.MaxDim)
	alpha := !wasJPEG && hasAlpha(img)
	for attempt := 0; attempt < 8; attempt++ {
		scaled := img
		if w != origW || h != origH {
			dst := image.NewRGBA(image.Rect(0, 0, w, h))
			draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
			scaled = dst
		}
		var buf bytes.Buffer
		if alpha {
			if err := (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, scaled); err != nil {
				return nil, fmt.Errorf("encode PNG: %w", err)
			}
			if buf.Len() <= lim.MaxBytes {
				return &Result{Data: buf.Bytes(), MimeType: "image/png", Width: w, Height: h, Reencoded: true, Resized: w != origW, Stripped: stripped}, nil
			}
		} else {
			if !isOpaqueRGB(scaled) {
				scaled = flatten(scaled)
			}
			for _, q := range []int{90, 82, 74, 66, 58} {
				buf.Reset()
				if err := jpeg.Encode(&buf, scaled, &jpeg.Options{Quality: q}); err != nil {
					return nil, fmt.Errorf("encode JPEG: %w", err)
				}
				if buf.Len() <= lim.MaxBytes {
					return &Result{Data: buf.Bytes(), MimeType: "image/jpeg", Width: w, Height: h, Reencoded: true, Resized: w != origW, Stripped: stripped}, nil
				}
			}
		}
		// Still too many bytes: a quarter fewer pixels per side, and again.
		w, h = max(1, w*3/4), max(1, h*3/4)
	}
	return nil, fmt.Errorf("the picture could not be made smaller than %d bytes", lim.MaxBytes)
}

// fit scales w×h down (never up) so the longest side is at most maxDim,
// keeping the aspect ratio.
func fit(w, h, maxDim int) (int, int) {
	if maxDim <= 0 || max(w, h) <= maxDim {
		return w, h
	}
	if w >= h {
		return maxDim, max(1, (h*maxDim+w/2)/w)
	}
	return max(1, (w*maxDim+h/2)/h), maxDim
}

func hasAlpha(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return !o.Opaque()
	}
	return true
}

func isOpaqueRGB(img image.Image) bool {
	switch img.(type) {
	case *image.YCbCr, *image.Gray:
		return true
	}
	return false
}

// flatten draws img over white (JPEG has no transparency).
func flatten(img image.Image) image.Image {
	b := img.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), &image.Uniform{C: color.White}, image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Over)
	return dst
}

package imageprep

import (
	"image"
	"runtime"
	"sync"
)

// Scaling a photo by a large factor with a quality kernel alone is slow:
// Catmull-Rom's support grows with the factor (4000 → 2000 px reads 8
// source pixels per output pixel and direction). A box filter first takes
// the picture down by the largest whole factor that keeps it at least as
// big as the target (averaging k×k blocks, which is what a good
// downscaling kernel does at that ratio anyway); Catmull-Rom then does the
// rest, a ratio under 2. The box filter works on the JPEG's own Y, Cb and
// Cr planes (no colour conversion) on every core.

// boxFactor is the whole factor a w×h picture can be box-shrunk by and
// stay at least tw×th. It divides both sides, so the shrunk picture covers
// exactly the same area (a rest cut off would shift the picture by up to
// half an output pixel); camera sizes are even, 4032×3024 or 6000×4000.
// 1: no box step.
func boxFactor(w, h, tw, th int) int {
	if tw <= 0 || th <= 0 {
		return 1
	}
	for k := min(w/tw, h/th); k >= 2; k-- {
		if w%k == 0 && h%k == 0 {
			return k
		}
	}
	return 1
}

// shrinkYCbCr averages k×k blocks of src into a 4:4:4 YCbCr picture of
// ⌊w/k⌋×⌊h/k⌋ (the right and bottom rest, under k pixels, is dropped).
func shrinkYCbCr(src *image.YCbCr, k int) *image.YCbCr {
	b := src.Bounds()
	w, h := b.Dx()/k, b.Dy()/k
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio444)
	n := uint32(k * k)
	half := n / 2
	rows(h, func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			sy := b.Min.Y + y*k
			do := y * dst.YStride
			for x := 0; x < w; x++ {
				sx := b.Min.X + x*k
				var sY, sCb, sCr uint32
				for j := 0; j < k; j++ {
					yi := src.YOffset(sx, sy+j)
					for _, v := range src.Y[yi : yi+k] {
						sY += uint32(v)
					}
					for i := 0; i < k; i++ {
						ci := src.COffset(sx+i, sy+j)
						sCb += uint32(src.Cb[ci])
						sCr += uint32(src.Cr[ci])
					}
				}
				dst.Y[do+x] = uint8((sY + half) / n)
				dst.Cb[do+x] = uint8((sCb + half) / n)
				dst.Cr[do+x] = uint8((sCr + half) / n)
			}
		}
	})
	return dst
}

// rows runs f over [0, h) in bands, one per core.
func rows(h int, f func(y0, y1 int)) {
	n := min(runtime.GOMAXPROCS(0), max(1, h/16))
	if n <= 1 {
		f(0, h)
		return
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		y0, y1 := h*i/n, h*(i+1)/n
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(y0, y1)
		}()
	}
	wg.Wait()
}

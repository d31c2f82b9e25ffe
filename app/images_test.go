package app

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
)

// A photo from a phone: 2800×2100, over a megabyte, with an EXIF block
// naming where it was taken. UploadImage makes it fit, strips the
// location, and the post records the aspect ratio; apps fetching the blob
// over XRPC get the cleaned picture.
func TestUploadImageForAPost(t *testing.T) {
	a := startAppWith(t, func(*Config) {})
	acc, err := a.CreateAccount("me.test", "password123", "")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	img := image.NewRGBA(image.Rect(0, 0, 2800, 2100))
	for i := range img.Pix {
		img.Pix[i] = uint8(r.IntN(256))
	}
	for x := 0; x < 2800; x++ {
		img.Set(x, 0, color.RGBA{0, 0, 0, 255})
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	where := []byte("GPS 51.5129N 0.1301W")
	app1 := append([]byte{0xFF, 0xE1, 0, byte(2 + 6 + 8 + len(where))}, "Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08"...)
	photo := append(append(append([]byte{0xFF, 0xD8}, app1...), where...), buf.Bytes()[2:]...)
	if len(photo) < 1_000_000 {
		t.Fatalf("test photo only %d bytes", len(photo))
	}

	up, err := a.UploadImage(base64.StdEncoding.EncodeToString(photo), "post")
	if err != nil {
		t.Fatalf("UploadImage: %v", err)
	}
	if up.Width != 2000 || up.Height != 1500 || up.Size > 1_000_000 || !up.Resized || !up.Stripped || up.MimeType != "image/jpeg" || up.OriginalSize != int64(len(photo)) {
		t.Fatalf("upload %+v", up)
	}
	res, err := a.Post(PostInput{Text: "from my phone", Images: []ImageInput{{CID: up.CID, MimeType: up.MimeType, Size: up.Size, Alt: "noise", Width: up.Width, Height: up.Height}}})
	if err != nil {
		t.Fatal(err)
	}
	_, rec := xrpcCall(t, a, "GET", "com.atproto.repo.getRecord?repo="+acc.DID+"&collection=app.bsky.feed.post&rkey="+res.URI[len(res.URI)-13:], "", nil)
	v, _ := rec["value"].(map[string]any)
	embed, _ := v["embed"].(map[string]any)
	imgs, _ := embed["images"].([]any)
	if len(imgs) != 1 {
		t.Fatalf("post %v", rec)
	}
	ar, _ := imgs[0].(map[string]any)["aspectRatio"].(map[string]any)
	if ar["width"] != float64(2000) || ar["height"] != float64(1500) {
		t.Fatalf("aspectRatio %v", ar)
	}
	st, _ := a.Status()
	resp, err := http.Get(st.LocalURL + "/xrpc/com.atproto.sync.getBlob?did=" + acc.DID + "&cid=" + up.CID)
	if err != nil {
		t.Fatal(err)
	}
	blob, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(blob, where) || bytes.Contains(blob, []byte("Exif")) {
		t.Fatalf("blob over XRPC: %d, %d bytes, location removed: %v", resp.StatusCode, len(blob), !bytes.Contains(blob, where))
	}
	if _, _, err := image.Decode(bytes.NewReader(blob)); err != nil {
		t.Fatalf("stored picture does not decode: %v", err)
	}

	// Any blob already stored (the gallery) can go in a new post.
	if _, err := a.Post(PostInput{Text: "again", Images: []ImageInput{{CID: up.CID, MimeType: up.MimeType, Size: up.Size, Width: up.Width, Height: up.Height}}}); err != nil {
		t.Fatalf("post with a gallery blob: %v", err)
	}
	// Bad input.
	for name, in := range map[string][2]string{
		"not a picture": {base64.StdEncoding.EncodeToString([]byte("just text")), "post"},
		"bad base64":    {"%%%", "post"},
		"unknown use":   {base64.StdEncoding.EncodeToString(photo), "wallpaper"},
	} {
		if _, err := a.UploadImage(in[0], in[1]); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

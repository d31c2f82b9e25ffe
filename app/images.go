package app

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/hearth-pds/hearth/app/imageprep"
)

// ImageUpload is a picture readied (imageprep) and stored as a blob.
type ImageUpload struct {
	BlobRef
	Width        int   `json:"width"`
	Height       int   `json:"height"`
	OriginalSize int64 `json:"originalSize"`
	Resized      bool  `json:"resized"`
	Reencoded    bool  `json:"reencoded"`
	Stripped     bool  `json:"stripped"` // location and other metadata removed
}

// MaxImageInput bounds a picture handed to UploadImage before it is
// readied (the window reads the file whole).
const MaxImageInput = 50 << 20

// UploadImage readies a picture as the Bluesky app does (metadata such as
// the GPS position removed; scaled down and re-encoded when over the
// limits for purpose: "post", "avatar" or "banner") and stores it as a
// blob. Width and Height are the stored picture's, for aspectRatio.
func (a *App) UploadImage(dataBase64, purpose string) (*ImageUpload, error) {
	e, acc, err := a.account(bg)
	if err != nil {
		return nil, err
	}
	lim, ok := map[string]imageprep.Limits{"post": imageprep.Post, "avatar": imageprep.Avatar, "banner": imageprep.Banner}[purpose]
	if !ok {
		return nil, fmt.Errorf("unknown picture use %q", purpose)
	}
	if base64.StdEncoding.DecodedLen(len(dataBase64)) > MaxImageInput {
		return nil, fmt.Errorf("the picture is over %d MB: choose a smaller one", MaxImageInput>>20)
	}
	data, err := base64.StdEncoding.DecodeString(dataBase64)
	if err != nil {
		return nil, fmt.Errorf("the file could not be read: %w", err)
	}
	r, err := imageprep.Prepare(data, lim)
	if err != nil {
		return nil, err
	}
	info, err := e.Blobs.Upload(bg, acc.DID, r.MimeType, bytes.NewReader(r.Data))
	if err != nil {
		return nil, err
	}
	return &ImageUpload{BlobRef: BlobRef{CID: info.CID, MimeType: info.MimeType, Size: info.Size}, Width: r.Width, Height: r.Height,
		OriginalSize: int64(len(data)), Resized: r.Resized, Reencoded: r.Reencoded, Stripped: r.Stripped}, nil
}

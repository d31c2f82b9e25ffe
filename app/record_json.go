package app

import "github.com/bluesky-social/indigo/atproto/atdata"

func decodeJSONRecord(b []byte) (map[string]any, error) { return atdata.UnmarshalJSON(b) }

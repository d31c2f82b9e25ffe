package main

import (
	"flag"
	"os"
	"testing"
)

// --allow-private-network is off by default and can be given as a flag
// or as HEARTH_ALLOW_PRIVATE_NETWORK.
func TestAllowPrivateNetworkFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		want bool
	}{
		{"default off", nil, "", false},
		{"flag", []string{"--allow-private-network"}, "", true},
		{"env", nil, "true", true},
		{"env off", nil, "0", false},
		{"flag beats env", []string{"--allow-private-network=false"}, "1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("HEARTH_ALLOW_PRIVATE_NETWORK", tc.env) // restored after the test
			if tc.env == "" {
				if err := os.Unsetenv("HEARTH_ALLOW_PRIVATE_NETWORK"); err != nil {
					t.Fatal(err)
				}
			}
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			var ef engineFlags
			ef.register(fs)
			if err := parseFlags(fs, tc.args); err != nil {
				t.Fatal(err)
			}
			if ef.allowPrivateNetwork != tc.want {
				t.Fatalf("allowPrivateNetwork = %v", ef.allowPrivateNetwork)
			}
		})
	}
}

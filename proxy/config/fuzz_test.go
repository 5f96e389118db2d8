package config

import (
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics and that its results are
// consistent: a config or an error, never both; errors carry the file name.
func FuzzParse(f *testing.F) {
	seeds := []string{
		tcpDefaults + okTail,
		"global\n nbthread 2\n log 10.0.0.1:514 len 900 format rfc5424 local0 info err\nnetwork\n address 10.0.0.2/24\n gateway 10.0.0.1\n mac 02:00:00:00:00:01\n cores 2\n" + okTail,
		"defaults\n mode http\n option httpchk GET /h HTTP/1.1\n http-check expect ! status 500,502-504\n" +
			"frontend f\n bind :80,:81 accept-proxy\n acl a hdr_dom(host) -i example.com\n acl b src 10.0.0.0/8\n" +
			" use_backend h if a !b or { method GET } || LOCALHOST\n http-request redirect prefix /x code 308 drop-query if a\n" +
			" default_backend h\nbackend h\n mode http\n balance random(3)\n default-server check inter 1s\n server s 10.0.0.1:80 weight 3\n",
		"listen l\n bind :1-3\n server s 10.0.0.1:1\n",
		"frontend f\n bind \"",
		"frontend f\n bind ':80' # x\n acl a path_reg \\.(\n",
		"backend b\n server s 10.0.0.1:99999\n",
		"defaults d\ndefaults e from d\nfrontend f from e\n bind :1\n",
		"frontend f\n bind :80\n use_backend x if { } \n acl q dst_port 80:90 gt 5 lt\n",
		"\x00", "\\", "global\n log", "frontend", "timeout connect 5",
		strings.Repeat("frontend a\n", 30),
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, _, err := Parse("fuzz.cfg", src)
		if (cfg == nil) == (err == nil) {
			t.Fatalf("Parse returned cfg=%v err=%v; want exactly one", cfg != nil, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.cfg") {
			t.Fatalf("error does not name the file: %v", err)
		}
		if cfg != nil && len(cfg.Frontends) == 0 {
			t.Fatalf("valid config without a frontend")
		}
	})
}

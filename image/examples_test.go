package main

import (
	"path/filepath"
	"testing"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// TestExamplesParse keeps the configurations the README points at valid.
func TestExamplesParse(t *testing.T) {
	paths, err := filepath.Glob("examples/*.cfg")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no example configurations: %v", err)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, warnings, err := config.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range warnings {
				t.Errorf("warning: %v", w)
			}
		})
	}
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Parse parses src, a configuration named name (used in messages), and
// validates the result. It returns the configuration and its warnings, or
// the warnings so far and an Errors listing every error found (up to
// MaxErrors).
func Parse(name string, src []byte) (*Config, []Warning, error) {
	p := newParser(name)
	p.run(src)
	if len(p.errs) == 0 {
		p.validate()
	}
	if len(p.errs) > 0 {
		return nil, p.warns, p.errs
	}
	return p.cfg, p.warns, nil
}

// Load reads and parses the file at path; messages name the file by its
// base name.
func Load(path string) (*Config, []Warning, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(filepath.Base(path), src)
}

// errTooMany stops parsing once MaxErrors are collected.
var errTooMany = errors.New("too many errors")

// sectionKind is the kind of the section being parsed.
type sectionKind int

const (
	secNone sectionKind = iota
	secGlobal
	secDefaults
	secFrontend
	secBackend
	secListen
	secNetwork
	secIgnored // a known HAProxy section the appliance skips
)

var sectionNames = []string{"global", "defaults", "frontend", "backend", "listen", "network",
	"resolvers", "peers", "userlist", "mailers", "program", "cache", "ring", "http-errors"}

// parser holds the state of one Parse call.
type parser struct {
	file  string
	line  int
	errs  Errors
	warns []Warning
	cfg   *Config

	sec      sectionKind
	secName  string
	defaults Settings            // the last defaults section
	named    map[string]Settings // named defaults sections
	curDef   *Settings           // the defaults section being parsed
	fe       *Frontend           // current frontend (frontend or listen)
	be       *Backend            // current backend (backend or listen)
	seenNet  bool
	seenGlob bool
}

func newParser(name string) *parser {
	return &parser{
		file:     name,
		cfg:      &Config{File: name},
		defaults: baseSettings(),
		named:    map[string]Settings{},
	}
}

// baseSettings are HAProxy's built-in defaults, before any defaults section.
func baseSettings() Settings {
	return Settings{
		Retries:       3,
		DefaultServer: Server{Weight: 1, Inter: 2 * time.Second, Rise: 2, Fall: 3},
	}
}

// errorf records an error at the current line. It panics with errTooMany
// once MaxErrors are recorded; run recovers it.
func (p *parser) errorf(format string, args ...any) {
	p.errorAt(p.line, format, args...)
}

func (p *parser) errorAt(line int, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
	if len(p.errs) >= MaxErrors {
		panic(errTooMany)
	}
}

func (p *parser) warnf(format string, args ...any) {
	p.warnAt(p.line, format, args...)
}

func (p *parser) warnAt(line int, format string, args ...any) {
	p.warns = append(p.warns, Warning{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// run parses every line of src.
func (p *parser) run(src []byte) {
	defer func() {
		if r := recover(); r != nil {
			if r != errTooMany {
				panic(r)
			}
			p.errs = append(p.errs, &Error{File: p.file, Line: p.line,
				Msg: fmt.Sprintf("too many errors; stopped after %d", MaxErrors)})
		}
	}()
	for len(src) > 0 {
		p.line++
		var raw []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			raw, src = src[:i], src[i+1:]
		} else {
			raw, src = src, nil
		}
		if bytes.IndexByte(raw, 0) >= 0 {
			p.errorf("line contains a NUL byte; is this a text file?")
			continue
		}
		words, err := splitLine(string(raw))
		if err != nil {
			p.errorf("%v", err)
			continue
		}
		if len(words) == 0 {
			continue
		}
		p.parseLine(words)
	}
	p.endSection()
}

// parseLine dispatches one non-empty line.
func (p *parser) parseLine(w []string) {
	if p.startSection(w) {
		return
	}
	switch p.sec {
	case secNone:
		p.errorf("keyword %q outside any section; start a section first (global, defaults, frontend, backend, listen or network)", w[0])
	case secGlobal:
		p.parseGlobal(w)
	case secNetwork:
		p.parseNetwork(w)
	case secDefaults, secFrontend, secBackend, secListen:
		p.parseProxy(w)
	case secIgnored:
	}
}

// startSection handles a section header line; it reports whether w was one.
func (p *parser) startSection(w []string) bool {
	kind := secNone
	switch w[0] {
	case "global":
		kind = secGlobal
	case "defaults":
		kind = secDefaults
	case "frontend":
		kind = secFrontend
	case "backend":
		kind = secBackend
	case "listen":
		kind = secListen
	case "network":
		kind = secNetwork
	case "resolvers", "peers", "userlist", "mailers", "program", "cache", "ring", "http-errors":
		kind = secIgnored
	default:
		return false
	}
	p.endSection()
	p.sec, p.secName = kind, ""
	switch kind {
	case secGlobal:
		if p.seenGlob {
			p.warnf("second global section; its settings add to the first")
		}
		p.seenGlob = true
		p.noArgs(w)
	case secNetwork:
		if p.seenNet {
			p.errorf("second network section; merge it into the one above")
		}
		p.seenNet = true
		p.cfg.Network.Line = p.line
		p.noArgs(w)
	case secIgnored:
		p.warnf("section %q is ignored: the appliance does not support it", w[0])
	case secDefaults:
		p.startDefaults(w)
	default:
		p.startProxy(kind, w)
	}
	return true
}

func (p *parser) noArgs(w []string) {
	if len(w) > 1 {
		p.errorf("%q takes no arguments; remove %q", w[0], strings.Join(w[1:], " "))
	}
}

// endSection finishes the section being parsed.
func (p *parser) endSection() {
	switch p.sec {
	case secDefaults:
		p.defaults = *p.curDef
		if p.secName != "" {
			p.named[p.secName] = *p.curDef
		}
		p.curDef = nil
	case secFrontend, secBackend, secListen:
		p.finishProxy()
	}
	p.fe, p.be, p.sec = nil, nil, secNone
}

func (p *parser) startDefaults(w []string) {
	// HAProxy: a defaults section resets what the previous one set.
	s := baseSettings()
	p.curDef = &s
	args := w[1:]
	if len(args) > 0 && args[0] != "from" {
		if p.checkName("defaults", args[0]) {
			p.secName = args[0]
		}
		args = args[1:]
	}
	if len(args) > 0 {
		if base, ok := p.fromClause(args); ok {
			s = base
		}
	}
}

// fromClause parses "from NAME" and returns the named defaults.
func (p *parser) fromClause(args []string) (Settings, bool) {
	if len(args) != 2 || args[0] != "from" {
		p.errorf("unexpected %q after the section name; write \"from DEFAULTS\" or nothing", strings.Join(args, " "))
		return Settings{}, false
	}
	s, ok := p.named[args[1]]
	if !ok {
		p.errorf("no defaults section named %q above this line; name one with \"defaults %s\"", args[1], args[1])
		return Settings{}, false
	}
	return cloneSettings(s), true
}

// checkName reports whether name is a valid HAProxy proxy name.
func (p *parser) checkName(what, name string) bool {
	if name == "" {
		p.errorf("%s needs a name", what)
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			p.errorf("%s name %q contains %q; use letters, digits, '-', '_', '.' and ':'", what, name, c)
			return false
		}
	}
	return true
}

// cloneSettings deep-copies s so that a proxy's changes do not leak back
// into the defaults it came from.
func cloneSettings(s Settings) Settings {
	s.Log.Targets = append([]LogTarget(nil), s.Log.Targets...)
	if s.Options.ForwardFor != nil {
		f := *s.Options.ForwardFor
		s.Options.ForwardFor = &f
	}
	if s.Options.HTTPCheck != nil {
		c := *s.Options.HTTPCheck
		if c.Expect != nil {
			e := *c.Expect
			e.Statuses = append([][2]int(nil), e.Statuses...)
			c.Expect = &e
		}
		s.Options.HTTPCheck = &c
	}
	return s
}

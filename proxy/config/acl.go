package config

import (
	"regexp"
	"strconv"
	"strings"
)

// criterion is what an ACL criterion name means.
type criterion struct {
	fetch Fetch
	match Match
	arg   bool // takes "(NAME)"
}

// criteria maps ACL criterion names (without their argument) to fetch and
// default match, following HAProxy's names.
var criteria = map[string]criterion{
	"hdr": {FetchHeader, MatchStr, true}, "req.hdr": {FetchHeader, MatchStr, true},
	"hdr_beg": {FetchHeader, MatchBeg, true}, "hdr_end": {FetchHeader, MatchEnd, true},
	"hdr_sub": {FetchHeader, MatchSub, true}, "hdr_reg": {FetchHeader, MatchReg, true},
	"hdr_dom": {FetchHeader, MatchDom, true}, "hdr_dir": {FetchHeader, MatchDir, true},
	"path": {FetchPath, MatchStr, false}, "path_beg": {FetchPath, MatchBeg, false},
	"path_end": {FetchPath, MatchEnd, false}, "path_sub": {FetchPath, MatchSub, false},
	"path_reg": {FetchPath, MatchReg, false}, "path_dir": {FetchPath, MatchDir, false},
	"path_dom": {FetchPath, MatchDom, false},
	"url":      {FetchURL, MatchStr, false}, "url_beg": {FetchURL, MatchBeg, false},
	"url_end": {FetchURL, MatchEnd, false}, "url_sub": {FetchURL, MatchSub, false},
	"url_reg": {FetchURL, MatchReg, false}, "url_dir": {FetchURL, MatchDir, false},
	"method":      {FetchMethod, MatchStr, false},
	"src":         {FetchSrc, MatchIP, false},
	"dst_port":    {FetchDstPort, MatchInt, false},
	"always_true": {FetchAlways, MatchTrue, false}, "always_false": {FetchAlways, MatchFalse, false},
}

func criterionNames() []string {
	out := make([]string, 0, len(criteria))
	for k := range criteria {
		out = append(out, k)
	}
	return out
}

var matchNames = []string{"str", "beg", "end", "sub", "reg", "dom", "dir", "ip", "int", "found"}

// predefined are HAProxy's predefined ACLs that the appliance knows.
var predefined = map[string]ACLTest{
	"TRUE":         {Fetch: FetchAlways, Match: MatchTrue},
	"FALSE":        {Fetch: FetchAlways, Match: MatchFalse},
	"LOCALHOST":    {Fetch: FetchSrc, Match: MatchIP, Values: []string{"127.0.0.0/8"}},
	"METH_CONNECT": {Fetch: FetchMethod, Values: []string{"CONNECT"}},
	"METH_DELETE":  {Fetch: FetchMethod, Values: []string{"DELETE"}},
	"METH_GET":     {Fetch: FetchMethod, Values: []string{"GET", "HEAD"}},
	"METH_HEAD":    {Fetch: FetchMethod, Values: []string{"HEAD"}},
	"METH_OPTIONS": {Fetch: FetchMethod, Values: []string{"OPTIONS"}},
	"METH_POST":    {Fetch: FetchMethod, Values: []string{"POST"}},
	"METH_PUT":     {Fetch: FetchMethod, Values: []string{"PUT"}},
	"METH_TRACE":   {Fetch: FetchMethod, Values: []string{"TRACE"}},
}

// Predefined returns HAProxy's predefined ACL called name (TRUE, FALSE,
// LOCALHOST, METH_GET, ...), and whether it exists.
func Predefined(name string) (*ACL, bool) {
	t, ok := predefined[name]
	if !ok {
		return nil, false
	}
	if t.Match == MatchIP {
		for _, v := range t.Values {
			pfx, _ := parsePrefix(v)
			t.Prefixes = append(t.Prefixes, pfx)
		}
		t.Values = nil
	}
	return &ACL{Name: name, Tests: []ACLTest{t}}, true
}

// kwACL parses "acl NAME CRITERION [flags] VALUE...".
func (p *parser) kwACL(w []string) {
	if len(w) < 3 {
		p.errorf("\"acl\" needs a name and a criterion, as in \"acl is_api path_beg /api\"")
		return
	}
	name := w[1]
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:", c)) {
			p.errorf("acl name %q contains %q; use letters, digits, '-', '_', '.' and ':'", name, c)
			return
		}
	}
	if _, ok := predefined[name]; ok {
		p.errorf("acl name %q is a predefined ACL; choose another name", name)
		return
	}
	t, ok := p.parseACLTest(w[2:])
	if !ok {
		return
	}
	var list *[]*ACL
	if p.fe != nil {
		list = &p.fe.ACLs
	} else {
		list = &p.be.ACLs
	}
	for _, a := range *list {
		if a.Name == name {
			a.Tests = append(a.Tests, t) // same name: ORed, as in HAProxy
			return
		}
	}
	*list = append(*list, &ACL{Name: name, Tests: []ACLTest{t}})
}

// parseACLTest parses "CRITERION [flags] VALUE...".
func (p *parser) parseACLTest(w []string) (ACLTest, bool) {
	t := ACLTest{Line: p.line}
	crit, arg := w[0], ""
	if i := strings.IndexByte(crit, '('); i >= 0 {
		if !strings.HasSuffix(crit, ")") {
			p.errorf("acl criterion %q: missing ')'", crit)
			return t, false
		}
		crit, arg = crit[:i], crit[i+1:len(crit)-1]
	}
	c, ok := criteria[crit]
	if !ok {
		p.errorf("unknown acl criterion %q%s; supported: hdr(NAME), path, path_beg, path_end, path_reg, url, method, src, dst_port and their _beg/_end/_sub/_reg/_dom/_dir forms", w[0], suggest(crit, criterionNames()))
		return t, false
	}
	if c.arg {
		name, _, _ := strings.Cut(arg, ",") // hdr(name,occ): occurrence ignored
		if name == "" {
			p.errorf("acl criterion %q needs a header name, as in hdr(host)", w[0])
			return t, false
		}
		t.Arg = strings.ToLower(name)
	} else if arg != "" {
		p.errorf("acl criterion %q takes no argument; write %s", w[0], crit)
		return t, false
	}
	t.Fetch, t.Match = c.fetch, c.match
	vals := w[1:]
	for len(vals) > 0 && strings.HasPrefix(vals[0], "-") && len(vals[0]) > 1 {
		f := vals[0]
		vals = vals[1:]
		switch f {
		case "--":
			goto values
		case "-i":
			t.IgnoreCase = true
		case "-n", "-u":
			if f == "-u" && len(vals) > 0 {
				vals = vals[1:]
			}
		case "-m":
			if len(vals) == 0 {
				p.errorf("acl flag -m needs a match method: %s", strings.Join(matchNames, ", "))
				return t, false
			}
			m := index(matchNames, vals[0])
			if m < 0 {
				p.errorf("unknown acl match method %q%s; use %s", vals[0], suggest(vals[0], matchNames), strings.Join(matchNames, ", "))
				return t, false
			}
			t.Match = Match(m)
			vals = vals[1:]
		case "-f", "-M":
			p.errorf("acl flag %s (patterns from a file) is not supported; write the values on the line", f)
			return t, false
		default:
			p.errorf("unknown acl flag %q; use -i, -m METHOD or -- before values starting with '-'", f)
			return t, false
		}
	}
values:
	if t.Match == MatchTrue || t.Match == MatchFalse || t.Match == MatchFound {
		if len(vals) > 0 {
			p.errorf("acl %s takes no values; remove %q", w[0], strings.Join(vals, " "))
			return t, false
		}
		return t, true
	}
	if len(vals) == 0 {
		p.errorf("acl %s needs at least one value to match", w[0])
		return t, false
	}
	switch t.Match {
	case MatchIP:
		if t.Fetch != FetchSrc {
			p.errorf("acl -m ip works only with src")
			return t, false
		}
		for _, v := range vals {
			pfx, err := parsePrefix(v)
			if err != nil {
				p.errorf("acl src value %q: %v", v, err)
				return t, false
			}
			t.Prefixes = append(t.Prefixes, pfx)
		}
	case MatchInt:
		r, ok := p.parseIntRanges(vals)
		if !ok {
			return t, false
		}
		t.Ranges = r
	case MatchReg:
		for _, v := range vals {
			expr := v
			if t.IgnoreCase {
				expr = "(?i)" + v
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				p.errorf("acl regex %q: %v", v, err)
				return t, false
			}
			t.Regexps = append(t.Regexps, re)
		}
		t.Values = vals
	default:
		if t.Fetch == FetchSrc || t.Fetch == FetchDstPort {
			p.errorf("acl %s compares addresses or numbers; drop the -m flag", w[0])
			return t, false
		}
		t.Values = vals
	}
	return t, true
}

// parseIntRanges parses integer ACL values: N, N:M, or an operator (eq, ge,
// gt, le, lt) followed by N.
func (p *parser) parseIntRanges(vals []string) ([][2]int64, bool) {
	const lo, hi = -1 << 62, 1 << 62
	var out [][2]int64
	for i := 0; i < len(vals); i++ {
		v := vals[i]
		if op := v; op == "eq" || op == "ge" || op == "gt" || op == "le" || op == "lt" {
			if i+1 >= len(vals) {
				p.errorf("acl operator %q needs a number", op)
				return nil, false
			}
			i++
			n, err := strconv.ParseInt(vals[i], 10, 64)
			if err != nil {
				p.errorf("acl value %q is not a number", vals[i])
				return nil, false
			}
			r := map[string][2]int64{"eq": {n, n}, "ge": {n, hi}, "gt": {n + 1, hi}, "le": {lo, n}, "lt": {lo, n - 1}}[op]
			out = append(out, r)
			continue
		}
		a, b, isRange := strings.Cut(v, ":")
		x, err1 := strconv.ParseInt(a, 10, 64)
		y, err2 := x, error(nil)
		if isRange {
			y, err2 = strconv.ParseInt(b, 10, 64)
		}
		if err1 != nil || err2 != nil || y < x {
			p.errorf("acl value %q: expected a number or a range LOW:HIGH", v)
			return nil, false
		}
		out = append(out, [2]int64{x, y})
	}
	return out, true
}

// parseCondition parses "if|unless TERMS" where TERMS are ACL names (ANDed),
// "!" negations, "or"/"||" separators and anonymous "{ ... }" ACLs.
func (p *parser) parseCondition(w []string, _ bool) (*Condition, bool) {
	c := &Condition{}
	switch w[0] {
	case "if":
	case "unless":
		c.Unless = true
	default:
		p.errorf("expected \"if\" or \"unless\" before the condition; got %q", w[0])
		return nil, false
	}
	w = w[1:]
	if len(w) == 0 {
		p.errorf("%q needs a condition: one or more ACL names", map[bool]string{false: "if", true: "unless"}[c.Unless])
		return nil, false
	}
	var and []Term
	neg := false
	for i := 0; i < len(w); i++ {
		word := w[i]
		switch {
		case word == "or" || word == "||":
			if len(and) == 0 || neg {
				p.errorf("%q without an ACL before it; write \"if a or b\"", word)
				return nil, false
			}
			c.Or = append(c.Or, and)
			and = nil
			continue
		case word == "!":
			neg = !neg
			continue
		case word == "{":
			j := i + 1
			for j < len(w) && w[j] != "}" {
				j++
			}
			if j >= len(w) {
				p.errorf("anonymous acl \"{\" has no closing \"}\"; put spaces around the braces: { src 10.0.0.0/8 }")
				return nil, false
			}
			if j == i+1 {
				p.errorf("empty anonymous acl \"{ }\"")
				return nil, false
			}
			t, ok := p.parseACLTest(w[i+1 : j])
			if !ok {
				return nil, false
			}
			and = append(and, Term{Negate: neg, Anon: &t})
			neg, i = false, j
			continue
		case strings.HasPrefix(word, "{") || strings.HasSuffix(word, "}"):
			p.errorf("brace in %q: put spaces around anonymous acl braces, as in { src 10.0.0.0/8 }", word)
			return nil, false
		case word == "if" || word == "unless":
			p.errorf("%q in the middle of a condition; only one if/unless per rule", word)
			return nil, false
		}
		for strings.HasPrefix(word, "!") {
			neg = !neg
			word = word[1:]
		}
		and = append(and, Term{Negate: neg, ACL: word})
		neg = false
	}
	if len(and) == 0 || neg {
		p.errorf("condition ends without an ACL; remove the trailing operator")
		return nil, false
	}
	c.Or = append(c.Or, and)
	return c, true
}

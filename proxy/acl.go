package proxy

import (
	"net/netip"
	"strings"

	"github.com/bareproxy/bareproxy/proxy/config"
)

// Sample is what ACLs look at for one connection or request. The L4
// engine fills Src and DstPort; an L7 handler also fills the HTTP fields
// and sets HTTP.
type Sample struct {
	// Src is the client's address.
	Src netip.Addr
	// DstPort is the port the client connected to.
	DstPort uint16
	// HTTP says that Method, Path, URL and Header are set. Without it,
	// HTTP fetches find nothing and their tests do not match.
	HTTP bool
	// Method, Path (without query) and URL (the request target).
	Method, Path, URL string
	// Header returns every value of the header with the given lower-case
	// name, or nil. Nil Header means no headers.
	Header func(name string) []string
}

// EvalCondition evaluates an if/unless condition against smp; a nil
// condition is true. ACL names resolve among acls, then HAProxy's
// predefined ACLs; an unknown name does not match (validation rejects
// them).
func EvalCondition(c *config.Condition, acls []*config.ACL, smp *Sample) bool {
	if c == nil {
		return true
	}
	res := false
	for _, and := range c.Or {
		ok := true
		for _, t := range and {
			var m bool
			if t.Anon != nil {
				m = MatchTest(t.Anon, smp)
			} else if a := config.FindACL(acls, t.ACL); a != nil {
				m = MatchACL(a, smp)
			}
			if m == t.Negate {
				ok = false
				break
			}
		}
		if ok {
			res = true
			break
		}
	}
	return res != c.Unless
}

// MatchACL reports whether any of a's lines matches smp.
func MatchACL(a *config.ACL, smp *Sample) bool {
	for i := range a.Tests {
		if MatchTest(&a.Tests[i], smp) {
			return true
		}
	}
	return false
}

// MatchTest reports whether one ACL line matches smp. A sample that cannot
// be fetched (an HTTP field at L4, an absent header) does not match.
func MatchTest(t *config.ACLTest, smp *Sample) bool {
	switch t.Match {
	case config.MatchTrue:
		return true
	case config.MatchFalse:
		return false
	}
	switch t.Fetch {
	case config.FetchSrc:
		if t.Match != config.MatchIP {
			return false
		}
		for _, p := range t.Prefixes {
			if p.Contains(smp.Src) {
				return true
			}
		}
		return false
	case config.FetchDstPort:
		return matchInt(t, int64(smp.DstPort))
	}
	if !smp.HTTP {
		return false
	}
	switch t.Fetch {
	case config.FetchMethod:
		return matchString(t, smp.Method)
	case config.FetchPath:
		return matchString(t, smp.Path)
	case config.FetchURL:
		return matchString(t, smp.URL)
	case config.FetchHeader:
		if smp.Header == nil {
			return false
		}
		for _, v := range smp.Header(t.Arg) {
			if matchString(t, v) {
				return true
			}
		}
	}
	return false
}

func matchInt(t *config.ACLTest, v int64) bool {
	for _, r := range t.Ranges {
		if v >= r[0] && v <= r[1] {
			return true
		}
	}
	return false
}

func matchString(t *config.ACLTest, v string) bool {
	if t.Match == config.MatchFound {
		return true
	}
	if t.Match == config.MatchReg {
		for _, re := range t.Regexps {
			if re.MatchString(v) {
				return true
			}
		}
		return false
	}
	if t.IgnoreCase {
		v = strings.ToLower(v)
	}
	for _, pat := range t.Values {
		if t.IgnoreCase {
			pat = strings.ToLower(pat)
		}
		var ok bool
		switch t.Match {
		case config.MatchStr:
			ok = v == pat
		case config.MatchBeg:
			ok = strings.HasPrefix(v, pat)
		case config.MatchEnd:
			ok = strings.HasSuffix(v, pat)
		case config.MatchSub:
			ok = strings.Contains(v, pat)
		case config.MatchDom:
			ok = matchDelimited(v, pat, "/?.:")
		case config.MatchDir:
			ok = matchDelimited(v, pat, "/?")
		}
		if ok {
			return true
		}
	}
	return false
}

// matchDelimited reports whether pat occurs in v bounded on each side by
// the start or end of v or a delimiter, as HAProxy's -m dom and -m dir do.
func matchDelimited(v, pat, delims string) bool {
	pat = strings.Trim(pat, delims)
	if pat == "" {
		return false
	}
	for i := 0; i+len(pat) <= len(v); {
		j := strings.Index(v[i:], pat)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(pat)
		if (j == 0 || strings.IndexByte(delims, v[j-1]) >= 0) && (end == len(v) || strings.IndexByte(delims, v[end]) >= 0) {
			return true
		}
		i = j + 1
	}
	return false
}

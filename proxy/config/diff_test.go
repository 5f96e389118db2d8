package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"
)

// diff lists the paths where got differs from want, "(-want +got)" style.
// It stands in for cmp.Diff, which the module does not depend on. Compiled
// regexps compare by source.
func diff(want, got any) string {
	var out []string
	walk("", reflect.ValueOf(want), reflect.ValueOf(got), &out)
	return strings.Join(out, "\n")
}

var regexpType = reflect.TypeOf(&regexp.Regexp{})

func walk(path string, w, g reflect.Value, out *[]string) {
	if len(*out) > 20 {
		return
	}
	if !w.IsValid() || !g.IsValid() {
		if w.IsValid() != g.IsValid() {
			*out = append(*out, fmt.Sprintf("%s: -%v +%v", path, w, g))
		}
		return
	}
	if w.Type() == regexpType {
		ws, gs := "<nil>", "<nil>"
		if !w.IsNil() {
			ws = w.Interface().(*regexp.Regexp).String()
		}
		if !g.IsNil() {
			gs = g.Interface().(*regexp.Regexp).String()
		}
		if ws != gs {
			*out = append(*out, fmt.Sprintf("%s: -%s +%s", path, ws, gs))
		}
		return
	}
	switch w.Kind() {
	case reflect.Pointer, reflect.Interface:
		if w.IsNil() || g.IsNil() {
			if w.IsNil() != g.IsNil() {
				*out = append(*out, fmt.Sprintf("%s: -%s +%s", path, show(w), show(g)))
			}
			return
		}
		walk(path, w.Elem(), g.Elem(), out)
	case reflect.Struct:
		if w.Type().PkgPath() != "" && w.Type().PkgPath() != reflect.TypeOf(Config{}).PkgPath() {
			if !reflect.DeepEqual(w.Interface(), g.Interface()) {
				*out = append(*out, fmt.Sprintf("%s: -%v +%v", path, w, g))
			}
			return
		}
		for i := 0; i < w.NumField(); i++ {
			if !w.Type().Field(i).IsExported() {
				continue
			}
			walk(path+"."+w.Type().Field(i).Name, w.Field(i), g.Field(i), out)
		}
	case reflect.Slice, reflect.Array:
		if w.Len() != g.Len() {
			*out = append(*out, fmt.Sprintf("%s: len -%d +%d: -%s +%s", path, w.Len(), g.Len(), show(w), show(g)))
			return
		}
		for i := 0; i < w.Len(); i++ {
			walk(fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i), out)
		}
	default:
		if !reflect.DeepEqual(w.Interface(), g.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: -%v +%v", path, w, g))
		}
	}
}

func show(v reflect.Value) string {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Slice) && v.IsNil() {
		return "nil"
	}
	if v.Kind() == reflect.Pointer {
		return fmt.Sprintf("&%+v", v.Elem())
	}
	return fmt.Sprintf("%+v", v)
}

package config

import (
	"fmt"
	"strings"
)

// splitLine splits one configuration line into words the way HAProxy does:
// blanks separate words; '#' outside quotes starts a comment; a backslash
// escapes a blank, '#', a quote, '$' or itself, and \t, \n, \r and \xHH
// are understood; any other escape is kept as written (regexes need it); double
// quotes group words and honour escapes; single quotes group words
// literally. Quoted and unquoted parts of one word are joined. An empty
// quoted string is an empty word.
func splitLine(line string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
		quote  byte // 0, '"' or '\''
	)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '\\':
			if i+1 >= len(line) {
				return nil, fmt.Errorf("line ends in a lone backslash; write \\\\ for a backslash")
			}
			i++
			switch e := line[i]; e {
			case 't':
				cur.WriteByte('\t')
			case 'n':
				cur.WriteByte('\n')
			case 'r':
				cur.WriteByte('\r')
			case 'x':
				if i+2 >= len(line) || unhex(line[i+1]) < 0 || unhex(line[i+2]) < 0 {
					return nil, fmt.Errorf("bad escape \\x: write two hex digits, as in \\x41")
				}
				cur.WriteByte(byte(unhex(line[i+1])<<4 | unhex(line[i+2])))
				i += 2
			case ' ', '\t', '\\', '#', '"', '\'', '$':
				cur.WriteByte(e)
			default:
				// HAProxy keeps unknown escapes intact, so regexes such
				// as \.png$ survive unquoted.
				cur.WriteByte('\\')
				cur.WriteByte(e)
			}
			inWord = true
		case quote == '"':
			if c == '"' {
				quote = 0
			} else {
				cur.WriteByte(c)
			}
		case c == '"' || c == '\'':
			quote = c
			inWord = true
		case c == '#':
			i = len(line)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote; close it with %c on the same line", quote, quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

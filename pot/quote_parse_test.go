package pot

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Pure-Go models of how the jail's sh reads what the driver hands pot, so
// the quoting can be fuzzed at millions of inputs a minute (FuzzCommandLine
// and FuzzEnvLiteral run the real /bin/sh, a few hundred a second).

// errExpansion: the shell would expand or interpret something.
var errExpansion = errors.New("unquoted shell syntax")

// shWords splits a command line as POSIX sh does when it contains only
// quoting: blanks separate words, '…' is literal, \c outside quotes is c.
// Anything the shell would expand or treat as syntax outside quotes ($, `,
// ", globs, ~ at a word's start, #, ;, &, |, <, >, (, ), {, }, newline) is
// an error: the driver's command lines must not contain any.
func shWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(line[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '\\':
			if i+1 >= len(line) || line[i+1] == '\n' {
				return nil, errors.New("backslash at the end or before a newline")
			}
			cur.WriteByte(line[i+1])
			i++
			inWord = true
		case strings.IndexByte("$`\"*?[#;&|<>(){}\n\r", c) >= 0, c == '~' && !inWord:
			return nil, fmt.Errorf("%w %q at byte %d", errExpansion, c, i)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// shDoubleQuoted reads the double-quoted string at the start of s (after
// its opening quote) as sh does: \$ \` \" \\ lose the backslash, any other
// backslash stays; an unescaped $ or ` would expand (an error). It returns
// the value and what follows the closing quote.
func shDoubleQuoted(s string) (string, string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
				if s[i+1] != '\n' { // \newline is a line continuation
					b.WriteByte(s[i+1])
				}
				i++
				continue
			}
			b.WriteByte(c)
		case '$', '`':
			return "", "", fmt.Errorf("%w %q in double quotes at byte %d", errExpansion, c, i)
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated double quote")
}

// potEnvLine is the line pot's start script runs for `pot set-env -E A`:
// pot stores pot.env="A" escaping `"` only, and writes export "A".
func potEnvLine(assignment string) string {
	return `export "` + strings.ReplaceAll(assignment, `"`, `\"`) + `"`
}

func TestShModels(t *testing.T) {
	for line, want := range map[string][]string{
		`'a' 'b c'`:      {"a", "b c"},
		`'it'\''s'`:      {"it's"},
		`''`:             {""},
		` a  b `:         {"a", "b"},
		`a\ b`:           {"a b"},
		`'$(x)' '` + "`": nil,
		`$(x)`:           nil,
		`a;b`:            nil,
		`~root`:          nil,
		`a~`:             {"a~"},
		`"x"`:            nil,
	} {
		got, err := shWords(line)
		if want == nil {
			if err == nil {
				t.Errorf("shWords(%q) = %q, want an error", line, got)
			}
			continue
		}
		if err != nil || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Errorf("shWords(%q) = %q %v, want %q", line, got, err, want)
		}
	}
	for in, want := range map[string]string{
		`a"`: "a", `\$x"`: "$x", `\\"`: `\`, `\a"`: `\a`, `\""`: `"`, "\\`\"": "`", `$x"`: "!", "`x`\"": "!",
	} {
		got, rest, err := shDoubleQuoted(in)
		if want == "!" {
			if err == nil {
				t.Errorf("shDoubleQuoted(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want || rest != "" {
			t.Errorf("shDoubleQuoted(%q) = %q %q %v, want %q", in, got, rest, err, want)
		}
	}
	// The models agree with the real sh on the hostile values.
	for _, v := range hostileValues {
		line, err := CommandLine([]string{"cmd", v})
		if err != nil {
			t.Fatal(err)
		}
		words, err := shWords(line)
		if err != nil || len(words) != 2 || words[1] != v {
			t.Errorf("model of %q: %q %v", v, words, err)
		}
		if got := shellArgv(t, v, "tail"); got[0] != v {
			t.Errorf("sh and the model differ on %q: %q", v, got[0])
		}
		a, err := EnvAssignment("V", v)
		if err != nil {
			t.Fatal(err)
		}
		model, _, err := shDoubleQuoted(strings.TrimPrefix(potEnvLine(a), `export "`))
		if err != nil || model != "V="+v || shellEnv(t, a) != v {
			t.Errorf("sh and the model differ on env %q: %q %v", v, model, err)
		}
	}
}

// TestEnvLiteralKeepsInvalidUTF8: found by FuzzQuoteEnv, EnvLiteral used
// to turn bytes that are not UTF-8 into U+FFFD.
func TestEnvLiteralKeepsInvalidUTF8(t *testing.T) {
	for _, v := range []string{"\xdb", "a\xff$b", "\xe2\x82", "ü\x80`"} {
		lit, err := EnvLiteral(v)
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := shDoubleQuoted(lit + `"`)
		if err != nil || got != v {
			t.Errorf("EnvLiteral(%q) = %q, read back as %q %v", v, lit, got, err)
		}
	}
}

// FuzzQuoteCommandLine: for any argv, CommandLine either refuses it (empty
// command, a line break or NUL) or gives a line in which the shell sees
// exactly argv and nothing to expand, on one line.
func FuzzQuoteCommandLine(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(v, v, "x")
	}
	f.Add("/bin/sh", "-c", "echo 'hi'; echo \"$HOME\" `id` $(id)")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		argv := []string{a, b}
		if c != "" {
			argv = append(argv, strings.Split(c, "\x1f")...)
		}
		line, err := CommandLine(argv)
		bad := a == "" || strings.ContainsAny(strings.Join(argv, ""), "\n\r\x00")
		if err != nil {
			if !bad {
				t.Fatalf("CommandLine(%q) refused: %v", argv, err)
			}
			return
		}
		if bad {
			t.Fatalf("CommandLine(%q) accepted: %q", argv, line)
		}
		if CheckValue(line) != nil {
			t.Fatalf("CommandLine(%q) = %q, which pot cannot store", argv, line)
		}
		words, err := shWords(line)
		if err != nil {
			t.Fatalf("CommandLine(%q) = %q: %v", argv, line, err)
		}
		if strings.Join(words, "\x00") != strings.Join(argv, "\x00") || len(words) != len(argv) {
			t.Fatalf("CommandLine(%q) = %q, read back as %q", argv, line, words)
		}
	})
}

// FuzzQuoteEnv: for any name and value, EnvAssignment either refuses them
// (not a variable name, a line break or NUL) or gives what pot writes as
// export "…" so that the shell assigns exactly the value and expands
// nothing.
func FuzzQuoteEnv(f *testing.F) {
	for _, v := range hostileValues {
		f.Add("V", v)
	}
	f.Add("A_1", `\"$\`+"`")
	f.Add("1A", "x")
	f.Fuzz(func(t *testing.T, name, value string) {
		a, err := EnvAssignment(name, value)
		bad := !IsEnvName(name) || strings.ContainsAny(value, "\n\r\x00")
		if err != nil {
			if !bad {
				t.Fatalf("EnvAssignment(%q, %q) refused: %v", name, value, err)
			}
			return
		}
		if bad {
			t.Fatalf("EnvAssignment(%q, %q) accepted: %q", name, value, a)
		}
		line := potEnvLine(a)
		if CheckValue(line) != nil {
			t.Fatalf("%q: a line pot cannot store", line)
		}
		rest, ok := strings.CutPrefix(line, `export "`)
		if !ok {
			t.Fatal(line)
		}
		got, after, err := shDoubleQuoted(rest)
		if err != nil || after != "" {
			t.Fatalf("value %q: sh reads %q as %q, then %q: %v", value, line, got, after, err)
		}
		if got != name+"="+value {
			t.Fatalf("value %q: sh assigns %q", value, got)
		}
	})
}

// EnvArgs: one assignment as long as exec takes passes, one byte more is
// refused naming the variable (escaping counts: `$` doubles); so is a
// whole too long in all.
func TestEnvArgsBounds(t *testing.T) {
	fit := strings.Repeat("x", MaxEnvAssignment-len("V="))
	if _, err := EnvArgs([]EnvVar{{"V", fit}}); err != nil {
		t.Fatalf("%d bytes refused: %v", MaxEnvAssignment, err)
	}
	for _, v := range []string{fit + "x", fit[1:] + "$"} {
		if _, err := EnvArgs([]EnvVar{{"V", v}}); err == nil || !strings.Contains(err.Error(), "environment variable V: ") {
			t.Errorf("%d bytes (escaped %q...): %v", len(v), v[len(v)-1:], err)
		}
	}
	half := strings.Repeat("y", MaxEnvTotal/2)
	if _, err := EnvArgs([]EnvVar{{"A", half[:100<<10]}, {"B", half[:100<<10]}, {"C", half[:100<<10]}}); err == nil || !strings.Contains(err.Error(), "the environment is") {
		t.Errorf("300 KiB in all: %v", err)
	}
}

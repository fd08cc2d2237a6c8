package pot

import (
	"fmt"
	"strings"
)

// This file is the one place that knows how a value travels from the driver
// through pot into the jail's shell (see pot-cli.md, "Quoting"):
//
//   - pot stores every setting as a line of pot.conf, so a newline in any value
//     would end that line and could write any other pot setting;
//   - the start command is stored as pot.cmd=CMD and run as `exec CMD` by the
//     jail's sh, so it is shell syntax;
//   - an env value is stored as pot.env="VAR=VALUE" and run as
//     `export "VAR=VALUE"`, so inside those double quotes sh still expands
//     `$`, backquote and `\`.

// ErrNewline is returned for any value that contains a line break.
var ErrNewline = fmt.Errorf("value contains a line break, which pot would write into pot.conf as a new setting")

// CheckValue refuses a value that may not be handed to pot: one with a
// newline or carriage return (pot.conf is line based) or a NUL byte (argv
// cannot carry it).
func CheckValue(v string) error {
	if strings.ContainsAny(v, "\n\r") {
		return ErrNewline
	}
	if strings.ContainsRune(v, 0) {
		return fmt.Errorf("value contains a NUL byte")
	}
	return nil
}

// ShellQuoteWord quotes one word for sh so that it reaches the process as
// exactly that argument: the word is wrapped in single quotes and every
// single quote inside it becomes: quote, backslash, quote, quote.
func ShellQuoteWord(w string) string {
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// CommandLine turns an exact argv into the command string pot stores and the
// jail's sh runs as `exec CMD`, so that the process receives argv unchanged:
// no word splitting, globbing or expansion of any kind.
func CommandLine(argv []string) (string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", fmt.Errorf("empty command")
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		if err := CheckValue(a); err != nil {
			return "", fmt.Errorf("argument %d: %w", i, err)
		}
		words[i] = ShellQuoteWord(a)
	}
	return strings.Join(words, " "), nil
}

// EnvLiteral escapes an env value for pot's `export "VAR=VALUE"` so that the
// jail's sh hands VALUE to the process literally: `\`, `$` and backquote get
// a backslash (pot itself escapes `"`).
func EnvLiteral(v string) (string, error) {
	if err := CheckValue(v); err != nil {
		return "", err
	}
	// Byte by byte: ranging over runes would turn invalid UTF-8 into
	// U+FFFD and change the value. The bytes escaped are ASCII, never part
	// of a multi-byte character.
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\', '$', '`':
			b.WriteByte('\\')
		}
		b.WriteByte(v[i])
	}
	return b.String(), nil
}

// The environment reaches pot as arguments of one `pot set-env` call, so
// exec's limits are its limits: Linux takes no argument longer than 128 KiB
// (MAX_ARG_STRLEN, the emulation and potsim), FreeBSD no argv and
// environment longer than 512 KiB together (ARG_MAX), the pot process's
// own environment included.
const (
	// MaxEnvAssignment bounds one VAR=VALUE argument, escaped.
	MaxEnvAssignment = 128<<10 - 1
	// MaxEnvTotal bounds all of them together.
	MaxEnvTotal = 256 << 10
)

// EnvAssignment builds the VAR=VALUE argument of `pot set-env -E` with a
// literal value. VAR must be a shell variable name.
func EnvAssignment(name, value string) (string, error) {
	if !IsEnvName(name) {
		return "", fmt.Errorf("%q is not a valid environment variable name", name)
	}
	lit, err := EnvLiteral(value)
	if err != nil {
		return "", fmt.Errorf("environment variable %s: %w", name, err)
	}
	a := name + "=" + lit
	if len(a) > MaxEnvAssignment {
		return "", fmt.Errorf("environment variable %s: %d bytes as pot passes it on, more than the %d one argument may have", name, len(a), MaxEnvAssignment)
	}
	return a, nil
}

// EnvArgs are the -E arguments of `pot set-env` for vars, or an error
// naming the variable pot cannot take, or saying the whole is too long.
func EnvArgs(vars []EnvVar) ([]string, error) {
	var args []string
	total := 0
	for _, v := range vars {
		a, err := EnvAssignment(v.Name, v.Value)
		if err != nil {
			return nil, err
		}
		total += len(a) + len("-E") + 2 // two NULs
		args = append(args, "-E", a)
	}
	if total > MaxEnvTotal {
		return nil, fmt.Errorf("the environment is %d bytes as pot passes it on, more than %d", total, MaxEnvTotal)
	}
	return args, nil
}

// IsEnvName reports whether s is a portable shell variable name.
func IsEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

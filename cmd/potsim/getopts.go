package main

import "strings"

// opt is one result of getopts: the option letter and its argument, or
// letter '?' for an unknown option or a missing argument.
type opt struct {
	c   byte
	arg string
}

// getopts parses args the way FreeBSD sh's getopts builtin does for the
// pot scripts: options are letters after '-', several may share one word
// ("-Fp NAME"), an option taking an argument (a letter followed by ':' in
// optstring) takes the rest of the word or the next word whatever it looks
// like, "--" ends the options, and so does the first word that is not an
// option ("-" alone included). An unknown option or a missing argument
// prints sh's own message on stderr and yields a '?' entry, after which
// parsing stops. The options are returned in order, with the remaining
// operands.
func getopts(args []string, optstring string) (opts []opt, operands []string) {
	i := 0
	for i < len(args) {
		word := args[i]
		if len(word) < 2 || word[0] != '-' {
			break
		}
		i++
		if word == "--" {
			break
		}
		for j := 1; j < len(word); j++ {
			c := word[j]
			k := strings.IndexByte(optstring, c)
			if c == ':' || k < 0 {
				stderrf("Illegal option -%c\n", c)
				return append(opts, opt{c: '?'}), args[i:]
			}
			if k+1 < len(optstring) && optstring[k+1] == ':' {
				if j+1 < len(word) {
					opts = append(opts, opt{c: c, arg: word[j+1:]})
				} else if i < len(args) {
					opts = append(opts, opt{c: c, arg: args[i]})
					i++
				} else {
					stderrf("No arg for -%c option\n", c)
					return append(opts, opt{c: '?'}), args[i:]
				}
				break
			}
			opts = append(opts, opt{c: c})
		}
	}
	return opts, args[i:]
}

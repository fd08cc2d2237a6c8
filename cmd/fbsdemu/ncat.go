package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
)

// ncat (nmap's), as pot's localhost tunnels use it: `ncat -lk PORT -c CMD`
// listens on every address and runs CMD (sh -c) for each connection with
// the connection as its stdin and stdout; `ncat HOST PORT` connects and
// relays stdin and stdout. TCP only: `-u` fails (pot then says the tunnel
// could not start; its pf rules are unaffected).
func init() { register("ncat", cmdNcat) }

func cmdNcat(args []string) int {
	listen, keep := false, false
	cmd := ""
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-u" || a == "--udp":
			warnx("ncat", "UDP is not emulated")
			return 2
		case a == "-c" || a == "--sh-exec" || a == "-e" || a == "--exec":
			if i+1 < len(args) {
				cmd = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for _, c := range a[1:] {
				switch c {
				case 'l':
					listen = true
				case 'k':
					keep = true
				}
			}
		default:
			rest = append(rest, a)
		}
	}
	if listen {
		if len(rest) != 1 {
			fmt.Fprintln(os.Stderr, "Ncat: usage: ncat -lk PORT -c CMD")
			return 2
		}
		return ncatListen(rest[0], keep, cmd)
	}
	if len(rest) != 2 {
		fmt.Fprintln(os.Stderr, "Ncat: usage: ncat HOST PORT")
		return 2
	}
	c, err := net.Dial("tcp", net.JoinHostPort(rest[0], rest[1]))
	if err != nil {
		fmt.Fprintf(os.Stderr, "Ncat: %v.\n", err)
		return 1
	}
	relay(c, os.Stdin, os.Stdout)
	return 0
}

func ncatListen(port string, keep bool, cmd string) int {
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Ncat: %v. QUITTING.\n", err)
		return 2
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return 1
		}
		serve := func() {
			defer c.Close()
			if cmd == "" {
				relay(c, os.Stdin, os.Stdout)
				return
			}
			f, err := c.(*net.TCPConn).File()
			if err != nil {
				return
			}
			defer f.Close()
			x := exec.Command("/bin/sh", "-c", cmd)
			x.Stdin, x.Stdout, x.Stderr = f, f, os.Stderr
			_ = x.Run()
		}
		if !keep {
			serve()
			return 0
		}
		go serve()
	}
}

// relay copies between a connection and a reader/writer pair until the
// connection's side ends (as ncat does when the peer closes).
func relay(c net.Conn, in io.Reader, out io.Writer) {
	go func() {
		_, _ = io.Copy(c, in)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	_, _ = io.Copy(out, c)
	c.Close()
}

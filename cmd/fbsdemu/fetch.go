package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsdpot/nomad-pot-driver/internal/imagehash"
)

// fetch(1) for http, https and file URLs, only to hosts of this machine
// (the emulated host has no way out); skein1024(1) and sha256(1) in md5(1)'s
// output forms (skein1024 is imagehash's stand-in, not Skein); signify(1)
// through Debian's signify-openbsd.
func init() {
	register("fetch", cmdFetch)
	register("skein1024", func(args []string) int { return cmdDigest("SKEIN1024", imagehash.StandIn, args) })
	register("sha256", func(args []string) int {
		return cmdDigest("SHA256", func(r io.Reader) (string, error) {
			h := sha256.New()
			_, err := io.Copy(h, r)
			return hex.EncodeToString(h.Sum(nil)), err
		}, args)
	})
	register("signify", func(args []string) int { return execHost("signify-openbsd", args) })
}

func cmdFetch(args []string) int {
	out, quiet := "", false
	var urls []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "--output":
			if i+1 == len(args) {
				fmt.Fprintln(os.Stderr, "fetch: option requires an argument -- o")
				return 1
			}
			out = args[i+1]
			i++
		case strings.HasPrefix(a, "--output="):
			out = strings.TrimPrefix(a, "--output=")
		case strings.HasPrefix(a, "-o") && len(a) > 2:
			out = a[2:]
		case a == "-q" || a == "--quiet":
			quiet = true
		case a == "-T" || a == "-N" || a == "-S" || a == "-B" || a == "-i":
			i++
		case strings.HasPrefix(a, "-"):
			// -a -m -r -v -1 -A -d -F -l -n -p -R -s -U: no effect here
		default:
			urls = append(urls, a)
		}
	}
	if len(urls) == 0 {
		fmt.Fprintln(os.Stderr, "usage: fetch [-146AadFlMmnPpqRrsUv] [-B bytes] [--bind-address=host] ... [-o file] [-S bytes] [-T seconds] [-w seconds] URL ...")
		return 1
	}
	_ = quiet
	rc := 0
	for _, u := range urls {
		dst := out
		if dst == "" {
			dst = filepath.Base(u)
		} else if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
			dst = filepath.Join(dst, filepath.Base(u))
		}
		if err := fetchOne(u, dst); err != nil {
			fmt.Fprintf(os.Stderr, "fetch: %s: %s\n", u, err)
			rc = 1
		}
	}
	return rc
}

type fetchError string

func (e fetchError) Error() string { return string(e) }

func fetchOne(raw, dst string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return fetchError("Invalid URL")
	}
	var body io.ReadCloser
	switch u.Scheme {
	case "file":
		f, err := os.Open(u.Path)
		if err != nil {
			return fetchError("No such file or directory")
		}
		body = f
	case "http", "https":
		if !localHost(u.Hostname()) {
			return fetchError("No address record")
		}
		client := &http.Client{Timeout: 10 * time.Minute}
		resp, err := client.Get(raw)
		if err != nil {
			return fetchError("Connection refused")
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fetchError(http.StatusText(resp.StatusCode))
		}
		body = resp.Body
	default:
		return fetchError("Invalid URL")
	}
	defer body.Close()
	tmp := dst + ".fetch"
	f, err := os.Create(tmp)
	if err != nil {
		return fetchError(err.Error())
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		os.Remove(tmp)
		return fetchError(err.Error())
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fetchError(err.Error())
	}
	return os.Rename(tmp, dst)
}

// localHost says whether a URL's host is on this machine.
func localHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// cmdDigest is md5(1)'s interface: -q prints the digest alone; -s STRING;
// files, or stdin without any.
func cmdDigest(algo string, sum func(io.Reader) (string, error), args []string) int {
	quiet := false
	var files []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-q":
			quiet = true
		case a == "-s" && i+1 < len(args):
			d, _ := sum(strings.NewReader(args[i+1]))
			if quiet {
				fmt.Println(d)
			} else {
				fmt.Printf("%s (\"%s\") = %s\n", algo, args[i+1], d)
			}
			i++
		case a == "-r" || a == "-p" || a == "-t" || a == "-x":
		default:
			files = append(files, a)
		}
	}
	if len(files) == 0 {
		d, err := sum(os.Stdin)
		if err != nil {
			warnx(strings.ToLower(algo), "%v", err)
			return 1
		}
		fmt.Println(d)
		return 0
	}
	rc := 0
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			warnx(strings.ToLower(algo), "%s: %v", f, err)
			rc = 1
			continue
		}
		d, err := sum(fh)
		fh.Close()
		if err != nil {
			warnx(strings.ToLower(algo), "%s: %v", f, err)
			rc = 1
			continue
		}
		if quiet {
			fmt.Println(d)
		} else {
			fmt.Printf("%s (%s) = %s\n", algo, f, d)
		}
	}
	return rc
}

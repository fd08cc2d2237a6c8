// Command webserver is the small HTTP service the end-to-end tests and the
// Linux demo run in a pot (under potsim it runs on the host, its working
// folder the pot's root). It stands in for the nginx of
// example-jobs/web.nomad.hcl, and shows what an operator checks:
//
//   - it listens on $_POT_IP (the pot's own address, which pot writes into
//     the jail's start script) at -port, else $WEBSERVER_PORT, else 8080;
//   - GET / answers "hello from alloc NOMAD_ALLOC_ID (pot _POT_NAME)";
//   - GET /health answers 200 "ok" (the service's http check);
//   - every request is logged to stdout, the start and stop to stderr
//     (nomad alloc logs / nomad alloc logs -stderr);
//   - SIGHUP and SIGUSR1 are printed to stdout (nomad alloc signal);
//   - SIGTERM and SIGINT end it with status 0;
//   - its arguments are printed first, as JSON (`argv: ["-g","daemon off;"]`),
//     and -g is accepted as nginx's global directives are, so the jobs of
//     example-jobs/bsdpot/ run it where theirs run nginx and show what the
//     program received.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	defaultPort := 8080
	if p, err := strconv.Atoi(os.Getenv("WEBSERVER_PORT")); err == nil {
		defaultPort = p
	}
	port := flag.Int("port", defaultPort, "port to listen on (default $WEBSERVER_PORT, else 8080)")
	addr := flag.String("addr", os.Getenv("_POT_IP"), "address to listen on (default $_POT_IP, else all)")
	flag.String("g", "", "global directives, as nginx's -g (printed with the arguments, not used)")
	flag.Parse()

	argv, _ := json.Marshal(os.Args[1:])
	fmt.Printf("argv: %s\n", argv)
	stdout := log.New(os.Stdout, "", log.LstdFlags)
	stderr := log.New(os.Stderr, "webserver: ", log.LstdFlags)

	alloc := os.Getenv("NOMAD_ALLOC_ID")
	potName := os.Getenv("_POT_NAME")

	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "hello from alloc %s (pot %s)\n", alloc, potName)
	})
	logged := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stdout.Printf("%s %s from %s", r.Method, r.URL.Path, r.RemoteAddr)
		mux.ServeHTTP(w, r)
	})

	listen := net.JoinHostPort(*addr, strconv.Itoa(*port))
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		stderr.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: logged, ReadHeaderTimeout: 10 * time.Second}
	stderr.Printf("listening on %s (alloc %s, pot %s)", ln.Addr(), alloc, potName)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			switch s {
			case syscall.SIGHUP, syscall.SIGUSR1:
				stdout.Printf("received signal %s", signalName(s))
			default:
				stderr.Printf("received signal %s, shutting down", signalName(s))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = srv.Shutdown(ctx)
				cancel()
				return
			}
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		stderr.Fatalf("serve: %v", err)
	}
	stderr.Printf("stopped")
}

func signalName(s os.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGUSR1:
		return "SIGUSR1"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	}
	return s.String()
}

package main

import (
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// pot redirects the exported ports of a bridge pot with pf rdr rules (and,
// with localhost-tunnel, an ncat listening on the host port). potsim start
// listens on 0.0.0.0:HOSTPORT itself and relays to POTIP:POTPORT for as
// long as the pot runs.

type forwarders struct {
	mu        sync.Mutex
	closers   []io.Closer
	forwarded []forwardedPort
	closed    bool
}

// Port range of FreeBSD's defaults: above net.inet.ip.portrange.reservedhigh
// (1023) and below net.inet.ip.portrange.first (10000).
const (
	freePortMin = 1024
	freePortMax = 9999
)

// startForwarders is start.sh's _js_export_ports.
func startForwarders(name, ip string) *forwarders {
	ports := strings.Fields(getExportPorts(name))
	if len(ports) == 0 {
		return nil
	}
	f := &forwarders{}
	excl := portsOfOtherPots(name)
	failed := false
	for _, spec := range ports {
		ps, err := parsePortSpec(spec)
		if err != nil {
			failed = true
			continue
		}
		var l io.Closer
		if ps.HostPort == 0 {
			for p := freePortMin; p <= freePortMax; p++ {
				if excl[p] {
					continue
				}
				if l, err = listenPort(ps.Proto, p); err == nil {
					ps.HostPort = p
					break
				}
			}
			if l == nil {
				failed = true
				continue
			}
		} else if l, err = listenPort(ps.Proto, ps.HostPort); err != nil {
			stderrf("potsim: cannot listen on %s port %d: %v\n", ps.Proto, ps.HostPort, err)
			failed = true
			continue
		}
		excl[ps.HostPort] = true
		debugf("Redirect: from %s : %s:%d to %s : %s:%d", extIf(), ps.Proto, ps.HostPort, ip, ps.Proto, ps.PotPort)
		target := net.JoinHostPort(ip, strconv.Itoa(ps.PotPort))
		f.closers = append(f.closers, l)
		f.forwarded = append(f.forwarded, forwardedPort{Proto: ps.Proto, PotPort: ps.PotPort, HostPort: ps.HostPort, IP: ip})
		switch c := l.(type) {
		case net.Listener:
			go f.serveTCP(c, target)
		case net.PacketConn:
			go f.serveUDP(c, target)
		}
	}
	if failed {
		errorf("pfctl failed to apply redirection rules - ignoring but no redirection is performed")
	}
	return f
}

func listenPort(proto string, port int) (io.Closer, error) {
	host := "0.0.0.0"
	if potExtifAddr != "" {
		host = potExtifAddr
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if proto == "udp" {
		return net.ListenPacket("udp4", addr)
	}
	return net.Listen("tcp4", addr)
}

// portsOfOtherPots are the host ports forwarded for the other running pots.
func portsOfOtherPots(name string) map[int]bool {
	used := map[int]bool{}
	matches, _ := filepath.Glob(filepath.Join(tmpDir(), "potsim_jail_*.json"))
	for _, m := range matches {
		other := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m), "potsim_jail_"), ".json")
		if other == name {
			continue
		}
		if st, err := loadJail(other); err == nil && startProcessAlive(st) {
			for _, p := range st.Ports {
				used[p.HostPort] = true
			}
		}
	}
	return used
}

func (f *forwarders) ports() []forwardedPort {
	if f == nil {
		return nil
	}
	return f.forwarded
}

func (f *forwarders) close() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, c := range f.closers {
		c.Close()
	}
}

func (f *forwarders) track(c io.Closer) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		return false
	}
	f.closers = append(f.closers, c)
	return true
}

func (f *forwarders) serveTCP(l net.Listener, target string) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go f.relayTCP(c, target)
	}
}

func (f *forwarders) relayTCP(c net.Conn, target string) {
	defer c.Close()
	if !f.track(c) {
		return
	}
	u, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		return
	}
	defer u.Close()
	if !f.track(u) {
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(u, c)
	go pipe(c, u)
	<-done
	<-done
}

func (f *forwarders) serveUDP(pc net.PacketConn, target string) {
	type session struct {
		conn *net.UDPConn
		last time.Time
	}
	var mu sync.Mutex
	sessions := map[string]*session{}
	raddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		return
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		key := from.String()
		mu.Lock()
		s := sessions[key]
		if s == nil {
			conn, err := net.DialUDP("udp", nil, raddr)
			if err != nil {
				mu.Unlock()
				continue
			}
			if !f.track(conn) {
				mu.Unlock()
				return
			}
			s = &session{conn: conn}
			sessions[key] = s
			go func(s *session, from net.Addr, key string) {
				rb := make([]byte, 65536)
				for {
					_ = s.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
					n, err := s.conn.Read(rb)
					if err != nil {
						var ne net.Error
						if errors.As(err, &ne) && ne.Timeout() {
							mu.Lock()
							idle := time.Since(s.last) > 2*time.Minute
							mu.Unlock()
							if !idle {
								continue
							}
						}
						mu.Lock()
						delete(sessions, key)
						mu.Unlock()
						s.conn.Close()
						return
					}
					_, _ = pc.WriteTo(rb[:n], from)
				}
			}(s, from, key)
		}
		s.last = time.Now()
		mu.Unlock()
		_, _ = s.conn.Write(buf[:n])
	}
}

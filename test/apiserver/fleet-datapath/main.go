// SPDX-License-Identifier: Apache-2.0

// Command fleet-datapath is the small helper the data-path test harness (test/datapath/, described
// in docs/datapath.md) runs inside the network namespaces it creates. It is built in the same
// `go build` as fleet-apiserver and kube-proxy (test/harness/binaries.ts).
//
//	fleet-datapath echo --name POD [--tcp 8080,9000] [--udp 8080] [--http 8081]
//	    A pod's server: every TCP connection and every UDP datagram is answered with one JSON line
//	    {"pod","peer","local","proto"}: the pod's name and the peer address it saw (so a test can
//	    check that the client IP was kept). --http ports answer any GET with 200 and the same JSON
//	    (a health endpoint). Prints READY once every port is bound; exits when stdin closes.
//	fleet-datapath relay --netns /run/netns/NODE --listen 127.0.0.1:P --to 127.0.0.1:P
//	    Accepts TCP connections on --listen inside the node's network namespace and connects them
//	    to --to in the namespace the relay was started in (the root namespace's loopback, where the
//	    member's apiserver listens). Both ends are loopback addresses. Exits when stdin closes.
//	fleet-datapath client --proto tcp|udp --to IP:PORT [--count N] [--concurrency C] [--timeout D]
//	    [--interval D] [--duration D] [--flow]
//	    Runs inside the client namespace: opens connections (or sends datagrams) and prints one JSON
//	    line per attempt {"i","t","ok","ms","pod","peer","err"}. --flow sends every datagram from
//	    one UDP socket (one 5-tuple), as a long-lived UDP client does.
//	fleet-datapath prober
//	    Runs inside the "vpc" namespace: reads the full set of health-check targets as one JSON
//	    array per stdin line, probes each target every intervalMs from its source address (TCP:
//	    the handshake completes; HTTP: a GET answered 200, as GCE's health checks), and prints one
//	    JSON line per probe {"id","ok","err"}. Exits when stdin closes.
//	fleet-datapath get http://127.0.0.1:PORT/PATH
//	    Prints the HTTP status code of a GET to a loopback URL (kube-proxy's /healthz inside a node
//	    namespace); exits 1 when there is no answer.
//	fleet-datapath supervise -- CMD ARGS...
//	    Runs CMD in its own process group and ends the group (SIGTERM, then SIGKILL after 3 s) when
//	    stdin closes or on SIGTERM: a test runner that dies leaves no kube-proxy behind.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: fleet-datapath echo|relay|client|prober|supervise [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "echo":
		err = echoMain(os.Args[2:])
	case "relay":
		err = relayMain(os.Args[2:])
	case "client":
		err = clientMain(os.Args[2:])
	case "prober":
		err = proberMain()
	case "supervise":
		err = superviseMain(os.Args[2:])
	case "get":
		err = getMain(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleet-datapath %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

// out serialises JSON lines on stdout.
var outMu sync.Mutex

func emit(v any) {
	b, _ := json.Marshal(v)
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(b, '\n'))
}

// exitOnStdinEOF ends the process when its parent (the harness) closes stdin or dies.
func exitOnStdinEOF() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

func ports(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("bad port %q", p)
		}
		out = append(out, n)
	}
	return out, nil
}

// ---- echo ----

type reply struct {
	Pod   string `json:"pod"`
	Peer  string `json:"peer"`
	Local string `json:"local"`
	Proto string `json:"proto"`
}

func echoMain(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	name := fs.String("name", "", "pod name to answer with")
	tcpPorts := fs.String("tcp", "", "TCP ports (comma-separated)")
	udpPorts := fs.String("udp", "", "UDP ports (comma-separated)")
	httpPorts := fs.String("http", "", "HTTP ports (comma-separated): GET answers 200")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tp, err := ports(*tcpPorts)
	if err != nil {
		return err
	}
	up, err := ports(*udpPorts)
	if err != nil {
		return err
	}
	hp, err := ports(*httpPorts)
	if err != nil {
		return err
	}
	exitOnStdinEOF()
	for _, p := range tp {
		l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					b, _ := json.Marshal(reply{Pod: *name, Peer: c.RemoteAddr().String(), Local: c.LocalAddr().String(), Proto: "TCP"})
					_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					_, _ = c.Write(append(b, '\n'))
				}()
			}
		}()
	}
	for _, p := range up {
		pc, err := net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				_, addr, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				b, _ := json.Marshal(reply{Pod: *name, Peer: addr.String(), Local: pc.LocalAddr().String(), Proto: "UDP"})
				_, _ = pc.WriteTo(append(b, '\n'), addr)
			}
		}()
	}
	for _, p := range hp {
		l, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p))
		if err != nil {
			return err
		}
		srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			b, _ := json.Marshal(reply{Pod: *name, Peer: r.RemoteAddr, Local: l.Addr().String(), Proto: "HTTP"})
			_, _ = w.Write(append(b, '\n'))
		})}
		go func() { _ = srv.Serve(l) }()
	}
	fmt.Println("READY")
	select {}
}

// ---- relay ----

// listenInNetns creates the listening socket inside the network namespace at nsPath: the socket
// keeps the namespace it was created in, so accepting on it from any thread serves that namespace.
func listenInNetns(nsPath, addr string) (net.Listener, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	defer orig.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("setns %s: %w", nsPath, err)
	}
	l, lerr := net.Listen("tcp4", addr)
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread is in the wrong namespace: never hand it back to the scheduler.
		runtime.Goexit()
	}
	return l, lerr
}

func relayMain(args []string) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	nsPath := fs.String("netns", "", "network namespace file to listen in (/run/netns/NAME)")
	listen := fs.String("listen", "", "listen address inside the namespace (loopback)")
	to := fs.String("to", "", "address to connect to from the relay's own namespace (loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, a := range []string{*listen, *to} {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			return err
		}
		// The relay only ever joins two loopbacks (docs/datapath.md: no traffic leaves the harness).
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%s is not a loopback address", a)
		}
	}
	l, err := listenInNetns(*nsPath, *listen)
	if err != nil {
		return err
	}
	exitOnStdinEOF()
	fmt.Println("READY")
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			u, err := net.DialTimeout("tcp4", *to, 5*time.Second)
			if err != nil {
				return
			}
			defer u.Close()
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(u, c); _ = u.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, u); _ = c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
			<-done
			<-done
		}()
	}
}

// ---- client ----

type attempt struct {
	I    int     `json:"i"`
	T    float64 `json:"t"`
	OK   bool    `json:"ok"`
	Ms   float64 `json:"ms"`
	Pod  string  `json:"pod,omitempty"`
	Peer string  `json:"peer,omitempty"`
	Err  string  `json:"err,omitempty"`
}

func clientMain(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	proto := fs.String("proto", "tcp", "tcp or udp")
	to := fs.String("to", "", "IP:PORT")
	count := fs.Int("count", 1, "attempts (ignored with --duration)")
	concurrency := fs.Int("concurrency", 1, "attempts in flight")
	timeout := fs.Duration("timeout", time.Second, "per attempt")
	interval := fs.Duration("interval", 0, "pause between the attempts of one worker")
	duration := fs.Duration("duration", 0, "keep going this long (instead of --count)")
	flow := fs.Bool("flow", false, "udp: every datagram from one socket (one 5-tuple)")
	src := fs.String("src", "", "source address to bind (default: the route's)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *proto != "tcp" && *proto != "udp" {
		return fmt.Errorf("--proto %q: tcp or udp", *proto)
	}
	if _, _, err := net.SplitHostPort(*to); err != nil {
		return err
	}
	start := time.Now()
	deadline := time.Time{}
	if *duration > 0 {
		deadline = start.Add(*duration)
	}
	var mu sync.Mutex
	next := 0
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if deadline.IsZero() && next >= *count {
			return 0, false
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return 0, false
		}
		next++
		return next - 1, true
	}
	var flowConn net.Conn
	if *flow {
		if *proto != "udp" {
			return errors.New("--flow is for udp")
		}
		c, err := udpDialer(*src).Dial("udp4", *to)
		if err != nil {
			return err
		}
		flowConn = c
		*concurrency = 1
	}
	var wg sync.WaitGroup
	for w := 0; w < max(*concurrency, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := take()
				if !ok {
					return
				}
				t0 := time.Now()
				var r reply
				var err error
				if *proto == "tcp" {
					r, err = tcpOnce(*src, *to, *timeout)
				} else {
					r, err = udpOnce(flowConn, *src, *to, i, *timeout)
				}
				a := attempt{I: i, T: ms(t0.Sub(start)), Ms: ms(time.Since(t0)), OK: err == nil, Pod: r.Pod, Peer: r.Peer}
				if err != nil {
					a.Err = err.Error()
				}
				emit(a)
				if *interval > 0 {
					if rest := *interval - time.Since(t0); rest > 0 {
						time.Sleep(rest)
					}
				}
			}
		}()
	}
	wg.Wait()
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// dialer binds src (an IP, any port) when given.
func dialer(src string, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if src != "" {
		ip := net.ParseIP(src)
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}

func tcpOnce(src, to string, timeout time.Duration) (reply, error) {
	var r reply
	c, err := dialer(src, timeout).Dial("tcp4", to)
	if err != nil {
		return r, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return r, fmt.Errorf("read: %w", err)
	}
	return r, json.Unmarshal(line, &r)
}

func udpOnce(flowConn net.Conn, src, to string, i int, timeout time.Duration) (reply, error) {
	var r reply
	c := flowConn
	if c == nil {
		var err error
		if c, err = udpDialer(src).Dial("udp4", to); err != nil {
			return r, err
		}
		defer c.Close()
	}
	if _, err := c.Write([]byte(fmt.Sprintf("ping %d\n", i))); err != nil {
		return r, err
	}
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(buf[:n], &r)
}

func udpDialer(src string) *net.Dialer {
	d := &net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(src)}
	}
	return d
}

// ---- get ----

func getMain(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: get URL")
	}
	req, err := http.NewRequest(http.MethodGet, args[0], nil)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(req.URL.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: only loopback URLs", args[0])
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	return nil
}

// ---- prober ----

type target struct {
	ID         string   `json:"id"`
	Srcs       []string `json:"srcs"`
	Dst        string   `json:"dst"`
	Port       int      `json:"port"`
	Type       string   `json:"type"` // TCP | HTTP
	Path       string   `json:"path,omitempty"`
	Host       string   `json:"host,omitempty"`
	IntervalMs int      `json:"intervalMs"`
	TimeoutMs  int      `json:"timeoutMs"`
}

type probeResult struct {
	ID  string `json:"id"`
	OK  bool   `json:"ok"`
	Err string `json:"err,omitempty"`
}

func proberMain() error {
	running := map[string]struct {
		t      target
		cancel context.CancelFunc
	}{}
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var set []target
		if err := json.Unmarshal(sc.Bytes(), &set); err != nil {
			return fmt.Errorf("bad target set: %w", err)
		}
		want := map[string]target{}
		for _, t := range set {
			want[t.ID] = t
		}
		for id, r := range running {
			if t, ok := want[id]; !ok || !reflect.DeepEqual(t, r.t) {
				r.cancel()
				delete(running, id)
			}
		}
		for id, t := range want {
			if _, ok := running[id]; ok {
				continue
			}
			ctx, cancel := context.WithCancel(context.Background())
			running[id] = struct {
				t      target
				cancel context.CancelFunc
			}{t, cancel}
			go probeLoop(ctx, t)
		}
	}
	return sc.Err()
}

func probeLoop(ctx context.Context, t target) {
	interval := time.Duration(max(t.IntervalMs, 100)) * time.Millisecond
	for n := 0; ; n++ {
		// Each probe comes from the next source address (GCE probes from several ranges).
		src := ""
		if len(t.Srcs) > 0 {
			src = t.Srcs[n%len(t.Srcs)]
		}
		err := probeOnce(ctx, t, src)
		if ctx.Err() != nil {
			return
		}
		r := probeResult{ID: t.ID, OK: err == nil}
		if err != nil {
			r.Err = err.Error()
		}
		emit(r)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func probeOnce(ctx context.Context, t target, src string) error {
	timeout := time.Duration(max(t.TimeoutMs, 100)) * time.Millisecond
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := d.DialContext(ctx, "tcp4", net.JoinHostPort(t.Dst, strconv.Itoa(t.Port)))
	if err != nil {
		return err
	}
	defer c.Close()
	if t.Type != "HTTP" {
		return nil
	}
	dl, _ := ctx.Deadline()
	_ = c.SetDeadline(dl)
	path := t.Path
	if path == "" {
		path = "/"
	}
	host := t.Host
	if host == "" {
		host = t.Dst
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: GoogleHC/1.0\r\nConnection: close\r\n\r\n", path, host); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	// GCE HTTP health checks succeed on 200 only (docs: health check success criteria).
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// ---- supervise ----

func superviseMain(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("supervise: no command")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	stop := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop <- struct{}{}
	}()
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		stop <- struct{}{}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			os.Exit(ee.ExitCode())
		}
		return err
	case <-stop:
	}
	pgid := cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
	}
	return nil
}

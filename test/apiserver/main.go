// SPDX-License-Identifier: Apache-2.0

// Command fleet-apiserver runs one real Kubernetes control plane for tests: an embedded etcd
// (go.etcd.io/etcd/server/v3/embed) and kube-apiserver (k8s.io/kubernetes/cmd/kube-apiserver/app)
// in one process, built from the upstream Go modules. It is what the fleet-ilb test harness
// (test/harness/fleet.ts) starts once per cluster.
//
//	fleet-apiserver --data-dir DIR [--kubeconfig FILE] [--exit-with-parent] -- <kube-apiserver flags>
//
// Everything after "--" is passed to kube-apiserver unchanged (the harness builds the same flag
// list it would give an envtest kube-apiserver binary); fleet-apiserver only adds
// --etcd-servers pointing at its embedded etcd. etcd keeps its data under DIR/etcd, so a stopped
// cluster restarted with the same DIR and --secure-port comes back with the same objects.
//
// With --kubeconfig, it polls /readyz with that kubeconfig and prints "READY <port> <kubeconfig>"
// on stdout once the apiserver is ready. With --exit-with-parent it shuts down when stdin reaches
// EOF or its parent process goes away, so a test runner killed with SIGKILL leaves no orphan.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	basecompatibility "k8s.io/component-base/compatibility"
	logsapi "k8s.io/component-base/logs/api/v1"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
	"k8s.io/kubernetes/cmd/kube-apiserver/app/options"
)

// shutdownGrace bounds a clean stop: after it the process exits anyway (a test must never hang on
// teardown).
const shutdownGrace = 15 * time.Second

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "fleet-apiserver: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	own, apiserverArgs := splitArgs(args)
	fs := flag.NewFlagSet("fleet-apiserver", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "directory for etcd data (kept across restarts); required")
	kubeconfig := fs.String("kubeconfig", "", "admin kubeconfig used to poll /readyz; READY is printed once it answers")
	exitWithParent := fs.Bool("exit-with-parent", false, "exit when stdin reaches EOF or the parent process dies")
	if err := fs.Parse(own); err != nil {
		return err
	}
	if *dataDir == "" {
		return errors.New("--data-dir is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if *exitWithParent {
		watchParent(cancel)
	}
	// A second signal, or a stop that takes too long, must still end the process.
	go func() {
		<-ctx.Done()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		select {
		case <-sig:
			fmt.Fprintln(os.Stderr, "fleet-apiserver: second signal, exiting")
		case <-time.After(shutdownGrace):
			fmt.Fprintln(os.Stderr, "fleet-apiserver: shutdown took too long, exiting")
		}
		os.Exit(1)
	}()

	etcd, etcdURL, err := startEtcd(ctx, filepath.Join(*dataDir, "etcd"))
	if err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	defer etcd.Close()

	completed, err := apiserverOptions(ctx, append(apiserverArgs, "--etcd-servers="+etcdURL))
	if err != nil {
		return fmt.Errorf("kube-apiserver options: %w", err)
	}
	port := completed.SecureServing.BindPort

	runErr := make(chan error, 1)
	go func() { runErr <- app.Run(ctx, completed) }()

	if *kubeconfig != "" {
		if err := waitReady(ctx, *kubeconfig, runErr); err != nil {
			return err
		}
		fmt.Printf("READY %d %s\n", port, *kubeconfig)
	}

	select {
	case err := <-runErr:
		if ctx.Err() == nil {
			return fmt.Errorf("kube-apiserver stopped: %w", err)
		}
	case <-ctx.Done():
		select {
		case <-runErr:
		case <-time.After(shutdownGrace):
		}
	case err := <-etcd.Err():
		return fmt.Errorf("etcd failed: %w", err)
	}
	return nil
}

// splitArgs separates our own flags from the kube-apiserver flags after "--".
func splitArgs(args []string) (own, rest []string) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:]
		}
	}
	return args, nil
}

// watchParent cancels ctx when stdin closes or the parent changes (re-parenting to init or a
// subreaper means the parent died). Both are cheap and cover a parent killed with SIGKILL, which
// cannot run any cleanup of its own.
func watchParent(cancel context.CancelCauseFunc) {
	parent := os.Getppid()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel(errors.New("stdin closed"))
	}()
	go func() {
		for range time.Tick(500 * time.Millisecond) {
			if os.Getppid() != parent {
				cancel(errors.New("parent exited"))
				return
			}
		}
	}()
}

// startEtcd runs a single-member etcd on free loopback ports. fsync is off: the data only has to
// survive a stop/start of this process, not a power cut, and fsync dominates etcd latency on CI disks.
func startEtcd(ctx context.Context, dir string) (*embed.Etcd, string, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(2)
		if err != nil {
			return nil, "", err
		}
		client := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[0])}
		peer := url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(ports[1])}
		cfg := embed.NewConfig()
		cfg.Name = "fleet"
		cfg.Dir = dir
		cfg.ListenClientUrls = []url.URL{client}
		cfg.AdvertiseClientUrls = []url.URL{client}
		cfg.ListenPeerUrls = []url.URL{peer}
		cfg.AdvertisePeerUrls = []url.URL{peer}
		cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{"stderr"}
		cfg.UnsafeNoFsync = true
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			// A port taken between freePorts and the bind: try other ports.
			lastErr = err
			continue
		}
		select {
		case <-e.Server.ReadyNotify():
			return e, client.String(), nil
		case err := <-e.Err():
			e.Close()
			lastErr = err
		case <-time.After(60 * time.Second):
			e.Close()
			return nil, "", errors.New("not ready after 60s")
		case <-ctx.Done():
			e.Close()
			return nil, "", context.Cause(ctx)
		}
	}
	return nil, "", lastErr
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// apiserverOptions follows app.NewAPIServerCommand without cobra and without
// genericapiserver.SetupSignalContext (which may run only once per process and owns the signals):
// parse the flags, set the component globals, apply logging, complete and validate.
func apiserverOptions(ctx context.Context, args []string) (options.CompletedOptions, error) {
	s := options.NewServerRunOptions()
	fs := pflag.NewFlagSet("kube-apiserver", pflag.ContinueOnError)
	for _, f := range s.Flags().FlagSets {
		fs.AddFlagSet(f)
	}
	if err := fs.Parse(args); err != nil {
		return options.CompletedOptions{}, err
	}
	if err := s.GenericServerRunOptions.ComponentGlobalsRegistry.Set(); err != nil {
		return options.CompletedOptions{}, err
	}
	// kube-apiserver's loopback clients should not log warnings they cause themselves.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	featureGate := s.GenericServerRunOptions.ComponentGlobalsRegistry.FeatureGateFor(basecompatibility.DefaultKubeComponent)
	if err := logsapi.ValidateAndApply(s.Logs, featureGate); err != nil {
		return options.CompletedOptions{}, err
	}
	completed, err := s.Complete(ctx)
	if err != nil {
		return options.CompletedOptions{}, err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		msgs := make([]string, 0, len(errs))
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		return options.CompletedOptions{}, errors.New(strings.Join(msgs, "; "))
	}
	return completed, nil
}

// waitReady polls /readyz with the given kubeconfig every 100 ms, failing fast if the apiserver
// stops.
func waitReady(ctx context.Context, kubeconfig string, runErr <-chan error) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cfg.Timeout = 2 * time.Second
	cfg.QPS = -1
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	client := cs.Discovery().RESTClient()
	deadline := time.After(120 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		body, err := client.Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		select {
		case err := <-runErr:
			return fmt.Errorf("kube-apiserver stopped before ready: %w", err)
		case <-deadline:
			return errors.New("kube-apiserver not ready after 120s")
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
}

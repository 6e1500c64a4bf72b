// fleet-conformance: the upstream Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance,
// the version test/apiserver/go.mod pins) as a plain program, so one `go build` makes it together
// with echo-basic and fleet-dns. It takes the suite's own flags (--gateway-class,
// --conformance-profiles, --report-output, --skip-tests, ...) and the Go test flags (-test.v,
// -test.run); KUBECONFIG names the cluster. `npm run test:conformance` (test/conformance/run.ts)
// starts a local fleet and runs it; docs/conformance.md has the results.
//
// What differs from `go test ./conformance` upstream: the base manifests. The suite applies
// base/manifests.yaml before any test and waits for every Gateway in it to be Programmed; four of
// them have only HTTP/HTTPS listeners, which an internal passthrough load balancer cannot serve
// (fleet-ilb programs TCP and UDP only), so no test could start. Upstream lets an implementation
// replace the base manifests (ConformanceOptions.BaseManifests; kubernetes-sigs/gateway-api issue
// #2403 asks for a way to skip the HTTP ones); this program serves the upstream file without its
// Gateways, everything else unchanged.
package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"testing"
	"testing/fstest"

	"sigs.k8s.io/gateway-api/conformance"
	"sigs.k8s.io/yaml"
)

// baseOverride is where the filtered base manifests are served (a path no upstream file has).
const baseOverride = "fleetilb/base-manifests.yaml"

func main() {
	// The suite sends traffic to the Gateways' addresses. In the tests those exist only inside the
	// data path's network namespaces: from the root namespace the packets would leave the machine.
	// So it runs only inside the namespace the runner names, and proves it is there.
	if err := outsideRootNetns(); err != nil {
		fmt.Fprintf(os.Stderr, "fleet-conformance: %v: refusing to run; `npm run test:conformance` starts it inside the data path's client namespace\n", err)
		os.Exit(2)
	}
	testing.Main(regexp.MatchString, []testing.InternalTest{{Name: "TestConformance", F: TestConformance}}, nil, nil)
}

// outsideRootNetns fails unless this process runs inside the network namespace named by
// FLEET_ILB_NETNS (a namespace of `ip netns`, /run/netns/<name>), which the runner sets to the data
// path's client namespace: the same nsfs inode as /proc/self/ns/net proves it.
func outsideRootNetns() error {
	name := os.Getenv("FLEET_ILB_NETNS")
	if name == "" {
		return fmt.Errorf("FLEET_ILB_NETNS is not set")
	}
	want, err := os.Stat("/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", name, err)
	}
	self, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return fmt.Errorf("cannot tell which network namespace this is: %w", err)
	}
	if !os.SameFile(want, self) {
		return fmt.Errorf("not running inside network namespace %s", name)
	}
	return nil
}

// TestConformance runs the suite as upstream's conformance_test.go does, with the base manifests
// replaced.
func TestConformance(t *testing.T) {
	opts := conformance.DefaultOptions(t)
	base, dropped, err := baseWithoutGateways(&conformance.Manifests)
	if err != nil {
		t.Fatalf("base manifests: %v", err)
	}
	t.Logf("base manifests: upstream base/manifests.yaml without its Gateways %v (HTTP/HTTPS listeners only)", dropped)
	opts.ManifestFS = []fs.FS{fstest.MapFS{baseOverride: &fstest.MapFile{Data: base}}, &conformance.Manifests}
	opts.BaseManifests = baseOverride
	conformance.RunConformanceWithOptions(t, opts)
}

// baseWithoutGateways returns upstream's base/manifests.yaml without its Gateway documents, and
// the names of the Gateways it left out.
func baseWithoutGateways(manifests fs.FS) ([]byte, []string, error) {
	raw, err := fs.ReadFile(manifests, "base/manifests.yaml")
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	var dropped []string
	for _, doc := range splitYAML(raw) {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, nil, fmt.Errorf("parse a document of base/manifests.yaml: %w", err)
		}
		if head.Kind == "" {
			continue // comments only
		}
		if head.Kind == "Gateway" {
			dropped = append(dropped, head.Metadata.Name)
			continue
		}
		out.WriteString("---\n")
		out.Write(doc)
		out.WriteString("\n")
	}
	if len(dropped) == 0 {
		return nil, nil, fmt.Errorf("base/manifests.yaml has no Gateway: the suite changed, review this override")
	}
	return out.Bytes(), dropped, nil
}

// splitYAML splits a multi-document YAML file on lines that are exactly `---`.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if bytes.Equal(bytes.TrimRight(line, "\r\n"), []byte("---")) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

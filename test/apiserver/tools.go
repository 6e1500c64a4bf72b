// SPDX-License-Identifier: Apache-2.0

//go:build tools

// This file pins what `go mod tidy` must keep in go.mod/go.sum without a Go source importing it;
// it is never compiled:
//   - modules whose files the test harness reads (the upstream CRD YAML under config/crd/ of each
//     module, found with `go mod download -json`);
//   - k8s.io/kubernetes/cmd/kube-proxy, the main package test/harness/binaries.ts builds in the same
//     `go build` as fleet-apiserver (the data-path tests run one real kube-proxy per simulated node;
//     docs/datapath.md).
package main

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "sigs.k8s.io/gateway-api/apis/v1"
	_ "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

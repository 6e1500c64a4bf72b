// SPDX-License-Identifier: Apache-2.0

//go:build tools

// This file only pins modules whose files the test harness reads (the upstream CRD YAML under
// config/crd/ of each module, found with `go mod download -json`); it is never compiled.
package main

import (
	_ "sigs.k8s.io/gateway-api/apis/v1"
	_ "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

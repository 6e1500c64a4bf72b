// SPDX-License-Identifier: Apache-2.0
//
// `npm run build:apiserver`: builds the test binaries (fleet-apiserver, kube-proxy, fleet-datapath;
// test/apiserver, one `go build`) into .cache/bin/ unless the binaries for the current sources are
// already there, and downloads the upstream CRD modules. Tests do this on first use too; CI runs it
// once up front so the build time is visible (progress every 30 s while it compiles).

import { buildTestBinaries, currentBuildRecord, upstreamCrdDirs } from './binaries.ts';

const started = performance.now();
const [bins, dirs] = await Promise.all([buildTestBinaries((m) => process.stderr.write(`${m}\n`)), upstreamCrdDirs()]);
const record = await currentBuildRecord();
process.stdout.write(
  `${JSON.stringify({
    binary: bins.fleetApiserver,
    binaries: bins,
    buildSeconds: record?.buildSeconds,
    builtAt: record?.builtAt,
    thisRunSeconds: Math.round((performance.now() - started) / 100) / 10,
    gatewayApi: dirs.gatewayApi,
    mcsApi: dirs.mcsApi,
  })}\n`,
);

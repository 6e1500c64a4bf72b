// SPDX-License-Identifier: Apache-2.0
//
// `npm run build:apiserver`: builds fleet-apiserver (test/apiserver) into .cache/bin/ unless the
// binary for the current sources is already there, and downloads the upstream CRD modules.
// Tests do this on first use too; CI runs it once up front so the build time is visible.

import { buildFleetApiserver, currentBuildRecord, upstreamCrdDirs } from './binaries.ts';

const started = performance.now();
const [bin, dirs] = await Promise.all([buildFleetApiserver((m) => process.stderr.write(`${m}\n`)), upstreamCrdDirs()]);
const record = await currentBuildRecord();
process.stdout.write(
  `${JSON.stringify({
    binary: bin,
    buildSeconds: record?.buildSeconds,
    builtAt: record?.builtAt,
    thisRunSeconds: Math.round((performance.now() - started) / 100) / 10,
    gatewayApi: dirs.gatewayApi,
    mcsApi: dirs.mcsApi,
  })}\n`,
);

// SPDX-License-Identifier: Apache-2.0
//
// Vitest globalSetup of the integration tests: build (or find) the control-plane binary and fetch
// the upstream CRD modules once, before any test file starts a fleet, so that a cold build is not
// charged to the first test's hook timeout.

import { controlPlaneBinaries, upstreamCrdDirs } from './binaries.ts';

export default async function setup(): Promise<void> {
  await Promise.all([controlPlaneBinaries((m) => process.stderr.write(`[global-setup] ${m}\n`)), upstreamCrdDirs()]);
}

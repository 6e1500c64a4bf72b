// SPDX-License-Identifier: Apache-2.0
//
// `fleet-ilb gce-emulator [--port P] [--seed FILE] [--operation-latency-ms N] [--wait-timeout-ms N] [--random-seed N] [--chaos-rate P]`
// Runs the Compute API emulator in the foreground. Prints one JSON line when ready:
//   {"url":"http://127.0.0.1:P","port":P,"computeEndpoint":"http://127.0.0.1:P/compute/v1/","randomSeed":1}
// and stops on SIGINT/SIGTERM. Drive it through the admin endpoints under /_emulator/ (see README).

import { parseArgs } from 'node:util';
import { startEmulator } from './index.ts';

const USAGE = `usage: fleet-ilb gce-emulator [--port P] [--seed FILE] [--operation-latency-ms N] [--wait-timeout-ms N] [--random-seed N] [--chaos-rate P]
  --chaos-rate P   fail each Compute call with probability P (0..1) with a seeded random fault of the battery's mix
`;

/** Entry point of `fleet-ilb gce-emulator`. Resolves with the exit code when the emulator stops. */
export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        seed: { type: 'string' },
        'operation-latency-ms': { type: 'string' },
        'wait-timeout-ms': { type: 'string' },
        'random-seed': { type: 'string' },
        'chaos-rate': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(USAGE);
    return 0;
  }
  const num = (v: string | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
    return n;
  };
  let emu;
  try {
    const port = num(values.port, 'port');
    const latency = num(values['operation-latency-ms'], 'operation-latency-ms');
    const wait = num(values['wait-timeout-ms'], 'wait-timeout-ms');
    const seedN = num(values['random-seed'], 'random-seed');
    emu = await startEmulator({
      ...(port === undefined ? {} : { port }),
      ...(values.seed === undefined ? {} : { seed: values.seed }),
      ...(latency === undefined ? {} : { operationLatencyMs: latency }),
      ...(wait === undefined ? {} : { waitTimeoutMs: wait }),
      ...(seedN === undefined ? {} : { randomSeed: seedN }),
    });
    if (values['chaos-rate'] !== undefined) {
      const rate = Number(values['chaos-rate']);
      if (!(rate >= 0 && rate <= 1)) throw new Error('--chaos-rate must be in [0,1]');
      emu.faults.inject({ action: { kind: 'chaos', rate } });
    }
  } catch (e) {
    await emu?.stop();
    process.stderr.write(`gce-emulator: ${(e as Error).message}\n`);
    return 1;
  }
  process.stdout.write(
    `${JSON.stringify({ url: emu.url, port: emu.port, computeEndpoint: `${emu.url}/compute/v1/`, randomSeed: emu.randomSeed })}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await emu.stop();
  return 0;
}

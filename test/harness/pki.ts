// SPDX-License-Identifier: Apache-2.0
//
// Certificates for one test cluster, made with the `openssl` CLI (OpenSSL ≥ 3.0, for `req -x509 -CA`).
//
// Each cluster gets its own serving CA and its own client CA, so a credential minted for one
// cluster is rejected by every other one (as with real clusters). Clients authenticate with X.509
// client certificates: kube-apiserver maps the subject CN to the user name and each O to a group
// (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#x509-client-certificates).
// Unlike a static token file, which kube-apiserver reads only at startup, a certificate signed by
// the client CA works at any time, so tests can mint identities after the fleet is up.

import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** File paths of one cluster's PKI (all PEM). */
export interface ClusterPki {
  dir: string;
  servingCaCert: string;
  servingCert: string;
  servingKey: string;
  clientCaCert: string;
  clientCaKey: string;
  /** Service-account token signing key (private key; kube-apiserver derives the public key). */
  serviceAccountKey: string;
}

/** A client certificate and its key, as PEM text. */
export interface ClientCredential {
  certPem: string;
  keyPem: string;
}

const TEN_YEARS_DAYS = '3650';

// Our own minimal openssl config, so the result does not depend on the distribution's openssl.cnf.
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[serving]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
`;

/** Paths of the PKI files in `dir` (whether or not they exist yet). */
export function pkiPaths(dir: string): ClusterPki {
  return {
    dir,
    servingCaCert: join(dir, 'serving-ca.crt'),
    servingCert: join(dir, 'serving.crt'),
    servingKey: join(dir, 'serving.key'),
    clientCaCert: join(dir, 'client-ca.crt'),
    clientCaKey: join(dir, 'client-ca.key'),
    serviceAccountKey: join(dir, 'sa.key'),
  };
}

/** Creates a fresh PKI for one cluster in `dir`. `name` only labels the CAs' subjects. */
export async function createClusterPki(dir: string, name: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const p = pkiPaths(dir);
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, OPENSSL_CONFIG);
  // The two CAs and the SA key are independent; the serving cert needs its CA.
  await Promise.all([
    (async () => {
      await selfSignedCa(config, `/CN=${escapeSubject(`fleet-ilb ${name} serving CA`)}`, p.servingCaCert, keyOf(p.servingCaCert));
      await signedCert(config, 'serving', '/CN=kube-apiserver', p.servingCaCert, keyOf(p.servingCaCert), p.servingCert, p.servingKey);
    })(),
    selfSignedCa(config, `/CN=${escapeSubject(`fleet-ilb ${name} client CA`)}`, p.clientCaCert, p.clientCaKey),
    // SEC1 "EC PRIVATE KEY": kube-apiserver's --service-account-key-file reads public keys from
    // it, which it cannot from a PKCS#8 "PRIVATE KEY" (k8s.io/client-go/util/keyutil).
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', p.serviceAccountKey]),
  ]);
  return p;
}

/**
 * Signs a client certificate for `user` in `groups` with the cluster's client CA.
 * Safe to call concurrently and at any time while the cluster runs.
 */
export async function mintClientCredential(pki: ClusterPki, user: string, groups: readonly string[], outDir: string): Promise<ClientCredential> {
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  const base = join(outDir, `${safeFileName(user)}-${process.hrtime.bigint().toString(36)}`);
  const subject = [...groups.map((g) => `/O=${escapeSubject(g)}`), `/CN=${escapeSubject(user)}`].join('');
  await signedCert(join(pki.dir, 'openssl.cnf'), 'client', subject, pki.clientCaCert, pki.clientCaKey, `${base}.crt`, `${base}.key`);
  const [certPem, keyPem] = await Promise.all([readFile(`${base}.crt`, 'utf8'), readFile(`${base}.key`, 'utf8')]);
  return { certPem, keyPem };
}

function keyOf(certPath: string): string {
  return certPath.replace(/\.crt$/, '.key');
}

async function selfSignedCa(config: string, subject: string, certOut: string, keyOut: string): Promise<void> {
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyOut, '-out', certOut, '-days', TEN_YEARS_DAYS, '-utf8', '-subj', subject,
    '-config', config, '-extensions', 'ca',
  ]);
}

async function signedCert(config: string, section: string, subject: string, caCert: string, caKey: string, certOut: string, keyOut: string): Promise<void> {
  // `req -x509 -CA` (OpenSSL 3.0+) makes the key and the CA-signed certificate in one call.
  await openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyOut, '-out', certOut, '-days', TEN_YEARS_DAYS, '-utf8', '-subj', subject,
    '-CA', caCert, '-CAkey', caKey, '-config', config, '-extensions', section,
  ]);
}

async function openssl(args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0] ?? ''} failed: ${err.stderr ?? err.message}`, { cause: e });
  }
}

/** Escapes a value for openssl's `/type=value` subject syntax (backslash escapes `/` and `\`). */
export function escapeSubject(value: string): string {
  return value.replace(/[\\/]/g, (c) => `\\${c}`);
}

function safeFileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 60);
}

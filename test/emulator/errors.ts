// SPDX-License-Identifier: Apache-2.0
//
// The two error forms of the Compute API (docs/compute-api.md "Operations and retries", "Errors as the Node client gives them"):
//  * synchronous: HTTP status + the classic Google JSON error
//      {"error":{"code":409,"message":"The resource '…' already exists",
//                "errors":[{"message":"…","domain":"global","reason":"alreadyExists"}]}}
//    (Go renders it `googleapi: Error 409: <message>, alreadyExists`);
//  * inside an operation: `status: DONE` + `error.errors[{code: UPPER_SNAKE, message}]` + `httpErrorStatusCode` +
//    `httpErrorMessage` (k8s-cloud-provider `pkg/cloud/op.go` turns it into "<code> - <message>").
// Every error the emulator produces is an ApiError, so each can be rendered in either form.

/** Reason (sync form) → code (operation form). [U] where public logs show only one of the two. */
const OP_CODES: Record<string, string> = {
  alreadyExists: 'RESOURCE_ALREADY_EXISTS',
  notFound: 'RESOURCE_NOT_FOUND',
  resourceInUseByAnotherResource: 'RESOURCE_IN_USE_BY_ANOTHER_RESOURCE',
  invalid: 'INVALID_FIELD_VALUE',
  required: 'REQUIRED_FIELD_MISSING',
  conditionNotMet: 'CONDITION_NOT_MET',
  resourceNotReady: 'RESOURCE_NOT_READY',
  quotaExceeded: 'QUOTA_EXCEEDED',
  rateLimitExceeded: 'RATE_LIMIT_EXCEEDED',
  backendError: 'INTERNAL_ERROR',
  internalError: 'INTERNAL_ERROR',
  unavailable: 'SERVICE_UNAVAILABLE',
  forbidden: 'PERMISSION_DENIED',
  badRequest: 'BAD_REQUEST',
  notImplemented: 'NOT_IMPLEMENTED',
};

/** `httpErrorMessage` of a failed operation: the status text in capitals, as real operations carry it ("CONFLICT"). */
export const HTTP_ERROR_MESSAGES: Record<number, string> = {
  400: 'BAD REQUEST',
  403: 'FORBIDDEN',
  404: 'NOT FOUND',
  409: 'CONFLICT',
  412: 'PRECONDITION FAILED',
  429: 'TOO MANY REQUESTS',
  500: 'INTERNAL SERVER ERROR',
  501: 'NOT IMPLEMENTED',
  503: 'SERVICE UNAVAILABLE',
};

/** One Compute API error, renderable as a synchronous JSON error or as an operation error. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly domain: string;
  /** The UPPER_SNAKE code used when this error ends an operation. */
  readonly opCode: string;
  /** Extra top-level fields of the error object (the JSON-parse errors carry `status` and `details`). */
  readonly extra: Record<string, unknown>;

  constructor(
    status: number,
    reason: string,
    message: string,
    opts: { domain?: string; opCode?: string; extra?: Record<string, unknown> } = {},
  ) {
    super(message);
    this.status = status;
    this.reason = reason;
    this.domain = opts.domain ?? 'global';
    this.opCode = opts.opCode ?? OP_CODES[reason] ?? reason.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();
    this.extra = opts.extra ?? {};
  }

  /** The synchronous JSON body. */
  toBody(): { error: Record<string, unknown> } {
    return {
      error: {
        code: this.status,
        message: this.message,
        errors: [{ message: this.message, domain: this.domain, reason: this.reason }],
        ...this.extra,
      },
    };
  }

  /** The `error` field of a failed operation. */
  toOperationError(): { errors: Array<{ code: string; message: string }> } {
    return { errors: [{ code: this.opCode, message: this.message }] };
  }

  /** 404 for a missing resource: "The resource 'projects/p/…/n' was not found" (docs/compute-api.md "Errors as the Node client gives them"). */
  static notFound(path: string): ApiError {
    return new ApiError(404, 'notFound', `The resource '${path}' was not found`);
  }

  /** 409 for a taken name: "The resource 'projects/p/…/n' already exists". */
  static alreadyExists(path: string): ApiError {
    return new ApiError(409, 'alreadyExists', `The resource '${path}' already exists`);
  }

  /**
   * 400 invalid: "Invalid value for field 'resource.<f>': '<v>'. <why>" — the form in kubernetes/ingress-gce#1463
   * ("Invalid value for field 'resource.ipAddress': '10.0.0.13'. Specified IP address … doesn't belong to …").
   */
  static invalid(field: string, value: unknown, why: string): ApiError {
    const v = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
    return new ApiError(400, 'invalid', `Invalid value for field '${field}': '${v}'. ${why}`.trimEnd());
  }

  /** 400 required: "Required field 'resource.fingerprint' not specified" (ansible-collections/google.cloud#342). */
  static required(field: string): ApiError {
    return new ApiError(400, 'required', `Required field '${field}' not specified`);
  }

  /**
   * 400 resourceInUseByAnotherResource: "The <type> resource '<path>' is already being used by '<path>'" — e.g.
   * "The ssl_policy resource 'projects/…/sslPolicies/x' is already being used by 'projects/…/targetHttpsProxies/y'"
   * in public terraform logs, "Error 400: The network_endpoint_group resource 'projects/…' is already being used by"
   * in GoogleCloudPlatform/cloud-foundation-fabric#1972; cloud-provider-gcp `isInUsedByError` matches 400 +
   * "being used by".
   */
  static inUse(type: string, path: string, by: string): ApiError {
    return new ApiError(400, 'resourceInUseByAnotherResource', `The ${type} resource '${path}' is already being used by '${by}'`);
  }

  /** 412 conditionNotMet (stale fingerprint): "Invalid fingerprint." (kubernetes/ingress-gce#396). */
  static conditionNotMet(message = 'Invalid fingerprint.'): ApiError {
    return new ApiError(412, 'conditionNotMet', message);
  }

  /**
   * An internal IP already taken. Real GCE reports it in the operation as `IP_IN_USE_BY_ANOTHER_RESOURCE` with
   * "IP '10.0.0.2' is already being used by another resource." and HTTP 409 (terraform "operation received error",
   * `gcloud compute operations describe` output quoted in public docs; ingress-gce tests use 409 + that text).
   */
  static ipInUse(ip: string): ApiError {
    return new ApiError(409, 'ipInUseByAnotherResource', `IP '${ip}' is already being used by another resource.`, {
      opCode: 'IP_IN_USE_BY_ANOTHER_RESOURCE',
    });
  }

  /** 400 resourceNotReady: "The resource '<path>' is not ready" (kubernetes/ingress-gce#396). */
  static notReady(path: string): ApiError {
    return new ApiError(400, 'resourceNotReady', `The resource '${path}' is not ready`);
  }

  /** A JSON-front-end error (unknown field, wrong type): 400 with `status: INVALID_ARGUMENT` and a BadRequest detail. */
  static badJson(message: string, field: string): ApiError {
    return new ApiError(400, 'invalid', message, {
      extra: {
        status: 'INVALID_ARGUMENT',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description: message }] },
        ],
      },
    });
  }
}

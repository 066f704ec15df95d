//! The step catalog: every step pattern with a one-line description and an example, as printed
//! by `gauntlet steps` and used by `gauntlet check` to suggest the closest step. A test proves
//! it matches the registered steps exactly (no step missing, no stale entry).

use cucumber::gherkin::{Step, StepType};

/// One documented step.
#[derive(Debug, Clone, Copy)]
pub struct StepDoc {
    pub domain: &'static str,
    pub keyword: &'static str,
    pub pattern: &'static str,
    pub description: &'static str,
    pub example: &'static str,
}

macro_rules! step {
    ($domain:literal, $kw:literal, $pattern:literal, $description:literal, $example:literal) => {
        StepDoc {
            domain: $domain,
            keyword: $kw,
            pattern: $pattern,
            description: $description,
            example: $example,
        }
    };
}

pub const CATALOG: &[StepDoc] = &[
    step!("stack", "Given", "the stack is running",
        "Starts this scenario's own stack (mocks + gateway on ephemeral ports) and checks the admin API answers.",
        "the stack is running"),
    step!("auth", "Given", "I have a valid token for {string}",
        "Signs a token for the consumer's jwt credential, valid from now for 1 hour (or the stack's maximum_expiration if lower).",
        "I have a valid token for \"admin-user\""),
    step!("auth", "Given", "I have a token for {string} that expires in {duration}",
        "A token whose exp is now + duration on the stack clock.",
        "I have a token for \"admin-user\" that expires in 30 seconds"),
    step!("auth", "Given", "I have a token for {string} that lives for {duration}",
        "A token with exp = now + duration (to test maximum_expiration).",
        "I have a token for \"admin-user\" that lives for 2 days"),
    step!("auth", "Given", "I have a token for {string} that expired {duration} ago",
        "A token whose exp is in the past.",
        "I have a token for \"frontend-app\" that expired 10 seconds ago"),
    step!("auth", "Given", "I have a token for {string} that becomes valid in {duration}",
        "A token whose nbf is in the future.",
        "I have a token for \"frontend-app\" that becomes valid in 5 minutes"),
    step!("auth", "Given", "I have a token for {string} signed with the wrong secret",
        "A well-formed token for the consumer's key whose signature does not verify.",
        "I have a token for \"admin-user\" signed with the wrong secret"),
    step!("auth", "Given", "I have a token for {string} signed with algorithm {string}",
        "A token signed with another HMAC algorithm (HS256, HS384, HS512) than the credential names.",
        "I have a token for \"admin-user\" signed with algorithm \"HS384\""),
    step!("auth", "Given", "I have a valid token for {string} signed with the private key {string}",
        "A valid token signed with the credential's algorithm (RS/PS/ES/EdDSA) and this private key PEM (path from the directory gauntlet runs in).",
        "I have a valid token for \"partner-rs256\" signed with the private key \"features/auth/keys/rsa-private.pem\""),
    step!("auth", "Given", "I have an HS256 token for {string} signed with its public key as the secret",
        "The algorithm-confusion attack: an HS256 token whose HMAC key is the credential's rsa_public_key PEM.",
        "I have an HS256 token for \"partner-rs256\" signed with its public key as the secret"),
    step!("auth", "Given", "I have a token for {string} whose header says alg {string}",
        "A token whose header names this alg (\"none\" drops the signature).",
        "I have a token for \"admin-user\" whose header says alg \"none\""),
    step!("auth", "Given", "I have a token for {string} without the {string} claim",
        "A valid token with one claim (iss, exp, nbf, iat) removed.",
        "I have a token for \"admin-user\" without the \"iss\" claim"),
    step!("auth", "Given", "I have a token issued for the unknown key {string}",
        "A token whose iss names no credential of the stack.",
        "I have a token issued for the unknown key \"123456789\""),
    step!("auth", "Given", "I have the malformed token {string}",
        "Sends this exact string as the token.",
        "I have the malformed token \"not-a-jwt\""),
    step!("auth", "Given", "I have no token",
        "Sends requests without any token.",
        "I have no token"),
    step!("auth", "Given", "the token is sent in the query parameter {string}",
        "Moves the token from the Authorization header to ?name=token.",
        "the token is sent in the query parameter \"jwt\""),
    step!("auth", "Given", "the token is sent in the cookie {string}",
        "Moves the token to a cookie.",
        "the token is sent in the cookie \"jwt\""),
    step!("auth", "Given", "the token is sent in the {string} header with scheme {string}",
        "Moves the token to this header with this scheme word (empty for none).",
        "the token is sent in the \"Authorization\" header with scheme \"bearer\""),
    step!("auth", "Given", "the same token is also sent in the query parameter {string}",
        "Sends the current token a second time, in the query.",
        "the same token is also sent in the query parameter \"jwt\""),
    step!("auth", "Given", "a valid token for {string} is also sent in the query parameter {string}",
        "Adds a second, different token in the query.",
        "a valid token for \"frontend-app\" is also sent in the query parameter \"jwt\""),
    step!("http", "Given", "the request header {string} is {string}",
        "Adds a header to every following request (repeat the step to repeat the header).",
        "the request header \"X-Consumer-Username\" is \"admin-user\""),
    step!("http", "When", "I send a {method} request to {string}",
        "Sends a request through the gateway with the current token(s) and headers.",
        "I send a GET request to \"/api/v1/value-models\""),
    step!("http", "When", "I send a {method} request to {string} with JSON:",
        "Same, with the docstring below as a JSON body.",
        "I send a POST request to \"/api/v1/value-models\" with JSON:"),
    step!("http", "When", "I send {int} {method} requests to {string}",
        "Sends the same request N times, one after the other.",
        "I send 100 GET requests to \"/api/v1/value-models\""),
    step!("http", "Then", "the response status is {int}",
        "The last response has this status.",
        "the response status is 401"),
    step!("http", "Then", "the last {int} responses have status {int}",
        "Each of the last N responses has this status.",
        "the last 100 responses have status 200"),
    step!("http", "Then", "the response JSON {string} is {string}",
        "A field of the last JSON body (dotted path, array indexes allowed) equals this value.",
        "the response JSON \"message\" is \"Unauthorized\""),
    step!("http", "Then", "the response JSON is:",
        "The last JSON body equals the docstring (a request_id field is ignored unless named).",
        "the response JSON is:"),
    step!("http", "Then", "the response header {string} is {string}",
        "The last response carries this header with exactly this value.",
        "the response header \"WWW-Authenticate\" is \"Bearer\""),
    step!("http", "Then", "the response has no {string} header",
        "The last response does not carry this header.",
        "the response has no \"X-Circuit-Breaker-State\" header"),
    step!("http", "Then", "the service received the header {string} with value {string}",
        "The service saw this request header (send to a path ending in /_echo).",
        "the service received the header \"X-Consumer-Username\" with value \"admin-user\""),
    step!("http", "Then", "the response header {string} is {string} minus {int}",
        "Compares two numeric headers of the last response (e.g. remaining = limit - 1), whatever the configured numbers.",
        "the response header \"X-RateLimit-Remaining-Minute\" is \"X-RateLimit-Limit-Minute\" minus 1"),
    step!("http", "Then", "the service received the header {string} with the id of consumer {string}",
        "The service saw this header carrying the consumer's id from kong.yml (send to a path ending in /_echo).",
        "the service received the header \"X-Consumer-ID\" with the id of consumer \"frontend-app\""),
    step!("http", "Then", "the service did not receive the header {string}",
        "The service did not see this header (send to a path ending in /_echo).",
        "the service did not receive the header \"X-Anonymous-Consumer\""),
    step!("time", "Given/When", "the clock reaches the start of the next {word}",
        "Moves the stack clock to the next second, minute, hour or day boundary (windows are calendar-aligned).",
        "the clock reaches the start of the next minute"),
    step!("time", "Given", "the stack clock stands still",
        "From here on the stack clock moves only when a step jumps it, so exact window arithmetic does not depend on how fast a loaded machine sends requests (ignored under --real-time).",
        "the stack clock stands still"),
    step!("time", "When", "{duration} pass / {duration} passes",
        "Moves the stack clock forward (a jump; a real sleep under --real-time). Units: ms, seconds, minutes, hours, days.",
        "61 seconds pass"),
    step!("rate limits", "Then", "the {string} header of the last {int} responses counts down from {int} to {int}",
        "The header takes each value from the first number to the second over the last N responses, in order.",
        "the \"X-RateLimit-Remaining-Minute\" header of the last 100 responses counts down from 99 to 0"),
    step!("rate limits", "Then", "the response header {string} is a number between {int} and {int}",
        "The last response carries this header as a whole number in the range (inclusive).",
        "the response header \"Retry-After\" is a number between 1 and 60"),
    step!("rate limits", "When", "I send {int} concurrent {method} requests to {string}",
        "Sends N identical requests at once (same token and headers) and waits for all.",
        "I send 150 concurrent GET requests to \"/api/v1/commitments\""),
    step!("rate limits", "When", "I send {method} requests to {string} until one is refused",
        "Sends the request again and again until the gateway answers 429 (fails on any other non-2xx, or after 100,000).",
        "I send GET requests to \"/api/v1/value-models\" until one is refused"),
    step!("rate limits", "Then", "exactly {int} of the last {int} responses have status {int}",
        "Counts statuses over the last N responses.",
        "exactly 100 of the last 150 responses have status 200"),
    step!("observability", "Then", "the gateway metric {string} is {int}",
        "Sums the gateway's /metrics samples of this series (listed labels must match; others are summed over).",
        "the gateway metric 'gauntlet_gateway_rate_limited_total{consumer=\"frontend-app\"}' is 1"),
    step!("faults", "Given/When", "{string} is stopped",
        "Stops the service: its port closes (callers get connection refused), requests in flight may finish.",
        "\"value-architect\" is stopped"),
    step!("faults", "Given/When", "{string} is killed",
        "Kills the service: its port closes and every open connection is reset at once.",
        "\"value-architect\" is killed"),
    step!("faults", "Given/When", "{string} is started again",
        "Starts a stopped or killed service on the same port (a fresh process: a mock starts from its seed data).",
        "\"value-architect\" is started again"),
    step!("faults", "Given/When", "{string} answers {int} to every request",
        "The service's inbound stage answers this status (body `fault filter abort`) without calling the service.",
        "\"value-architect\" answers 500 to every request"),
    step!("faults", "Given/When", "{string} answers {int} to the next {int} request(s)",
        "Like above for the next N requests only; then the service answers normally.",
        "\"value-architect\" answers 503 to the next 2 requests"),
    step!("faults", "Given", "{string} answers {int} to {float}% of requests",
        "Answers this status to a random share of requests (seeded: `--seed` replays the same choices).",
        "\"value-architect\" answers 503 to 50% of requests"),
    step!("faults", "Given/When", "{string} responds after {duration}",
        "Delays every request by this much real time before the service gets it (injected latency is measured, never jumped).",
        "\"value-architect\" responds after 20 ms"),
    step!("faults", "Given/When", "{string} hangs",
        "The service never answers; only a gateway timeout (stack clock) ends the request.",
        "\"value-architect\" hangs"),
    step!("faults", "Given/When", "{string} hangs on the next {int} request(s)",
        "The next N requests never get an answer; later ones are served.",
        "\"value-architect\" hangs on the next 1 request"),
    step!("faults", "Given", "{string} resets every connection",
        "Every request's connection is closed with a TCP reset and no response.",
        "\"value-architect\" resets every connection"),
    step!("faults", "Given", "{string} sends malformed responses",
        "Every request is answered with bytes that are not HTTP.",
        "\"value-architect\" sends malformed responses"),
    step!("faults", "Given", "{string} has the fault:",
        "Any fault as JSON (the control API's form): action abort|delay|hang|reset|malformed, status, body, delay {fixed_ms|uniform_ms|lognormal}, times, probability, method, path_prefix.",
        "\"value-architect\" has the fault:"),
    step!("faults", "Given/When", "the faults on {string} are cleared",
        "Removes every HTTP fault of the service.",
        "the faults on \"value-architect\" are cleared"),
    step!("faults", "Then", "{string} received {int} request(s)",
        "Exactly this many requests reached the service's inbound stage (its journal), faulted ones included.",
        "\"value-architect\" received 4 requests"),
    step!("faults", "When", "{string} has received {int} request(s)",
        "Waits (up to 5 s real time) until at least this many requests reached the service: use it before jumping the clock over requests in flight.",
        "\"value-architect\" has received 1 request"),
    step!("network", "Given/When", "a latency of {duration} on the link from {string} to {string}",
        "A latency toxic (Toxiproxy's, stream downstream): every chunk coming back over the link waits this long, on the stack clock.",
        "a latency of 200 ms on the link from \"value-committer\" to \"value-architect\""),
    step!("network", "Given/When", "a latency of {duration} ± {duration} on the link from {string} to {string}",
        "The same with jitter: each chunk waits latency plus a uniform draw in ±jitter (seeded).",
        "a latency of 200 ms ± 20 ms on the link from \"value-committer\" to \"value-architect\""),
    step!("network", "Given/When", "a bandwidth limit of {int} KB/s on the link from {string} to {string}",
        "A bandwidth toxic: the bytes coming back pass at most this fast (1 KB = 1000 bytes).",
        "a bandwidth limit of 100 KB/s on the link from \"gateway\" to \"value-architect\""),
    step!("network", "Given/When", "the link from {string} to {string} is sliced into {int}-byte segments",
        "A slicer toxic: the bytes coming back are cut into segments of this size (nothing lost or reordered).",
        "the link from \"gateway\" to \"value-architect\" is sliced into 1-byte segments"),
    step!("network", "Given/When", "the link from {string} to {string} closes after {int} bytes",
        "A limit_data toxic: once this many bytes came back on a connection, it is closed.",
        "the link from \"gateway\" to \"value-architect\" closes after 100 bytes"),
    step!("network", "Given/When", "the link from {string} to {string} closes {duration} late",
        "A slow_close toxic: data passes, the close waits this long.",
        "the link from \"gateway\" to \"value-architect\" closes 2 seconds late"),
    step!("network", "Given/When", "the link from {string} to {string} goes silent",
        "A timeout toxic of 0: every byte coming back is dropped and the connection is held open forever.",
        "the link from \"gateway\" to \"value-architect\" goes silent"),
    step!("network", "Given/When", "the link from {string} to {string} goes silent and closes after {duration}",
        "A timeout toxic: bytes coming back are dropped, the connection closes after this long without data (stack clock).",
        "the link from \"gateway\" to \"value-architect\" goes silent and closes after 5 seconds"),
    step!("network", "Given/When", "the link from {string} to {string} resets connections",
        "A reset_peer toxic on the bytes sent: a connection is reset (TCP RST) on its first data, which never arrives.",
        "the link from \"gateway\" to \"value-architect\" resets connections"),
    step!("network", "Given/When", "the toxic {string} on the link from {string} to {string} is:",
        "Any toxic as Toxiproxy's JSON in a docstring (type, stream, toxicity, attributes), under this name.",
        "the toxic \"slow-db\" on the link from \"value-committer\" to \"value-architect\" is:"),
    step!("network", "Given/When", "the link from {string} to {string} is down",
        "Disables the link (Toxiproxy's enabled: false): new connections are refused, open ones closed.",
        "the link from \"value-committer\" to \"value-architect\" is down"),
    step!("network", "Given/When", "the link from {string} to {string} is up again",
        "Enables the link again; its toxics stay.",
        "the link from \"value-committer\" to \"value-architect\" is up again"),
    step!("network", "When", "the toxic {string} is removed",
        "Removes the toxic of this name from the one link that has it; the others stay.",
        "the toxic \"slow-db\" is removed"),
    step!("network", "When", "the toxic {string} is removed from the link from {string} to {string}",
        "Removes a toxic from one link (when several links have a toxic of that name).",
        "the toxic \"latency_downstream\" is removed from the link from \"gateway\" to \"value-architect\""),
    step!("network", "Given/When", "every link is reset",
        "Toxiproxy's POST /reset: every link enabled, every toxic removed.",
        "every link is reset"),
    step!("network", "Then", "the link from {string} to {string} carried {int} connection(s)",
        "How many connections went through the link since the stack started.",
        "the link from \"value-committer\" to \"value-architect\" carried 1 connection"),
    step!("network", "Then", "the last {int} responses have the same body",
        "The bodies of the last N responses are equal byte for byte (e.g. with and without a slicer).",
        "the last 2 responses have the same body"),
    step!("network", "Then", "the response took at least {duration}",
        "The last response took at least this much real time (a latency toxic's lower bound).",
        "the response took at least 300 ms"),
    step!("in flight", "When", "I start a {method} request to {string}",
        "Sends the request in the background; the scenario goes on without its answer.",
        "I start a GET request to \"/api/v1/value-models\""),
    step!("in flight", "When", "I start {int} {method} requests to {string}",
        "Sends N requests in the background at once.",
        "I start 100 GET requests to \"/api/v1/value-models\""),
    step!("in flight", "When", "the started requests finish",
        "Waits for every started request; their responses become the last responses, in start order. Once the scenario moved the stack clock, waits at most 5 s of real time: a request still waiting then failed its policy deadline on the stack clock.",
        "the started requests finish"),
    step!("in flight", "When", "the started requests have reached {string}",
        "Waits (up to 5 s real time) until every started request the gateway routes to this service has reached its inbound stage.",
        "the started requests have reached \"value-architect\""),
    step!("in flight", "Then", "the started requests are still waiting",
        "None of the started requests has an answer: watched until no timer on the stack clock is due (a jump that reached a deadline), then for 200 ms of real time.",
        "the started requests are still waiting"),
    step!("in flight", "Then", "the response came back within {duration}",
        "The last response took at most this much real time (sending to last byte).",
        "the response came back within 100 ms"),
    step!("circuit breaker", "Then", "the circuit breaker of {string} is {word}",
        "The admin API shows the service's breaker in this state (CLOSED, OPEN or HALF-OPEN).",
        "the circuit breaker of \"value-architect\" is OPEN"),
    step!("circuit breaker", "Then", "the circuit breaker of {string} counts {int} consecutive failure(s)",
        "The admin API's consecutive_failures of the service's breaker.",
        "the circuit breaker of \"value-architect\" counts 4 consecutive failures"),
    step!("circuit breaker", "Then", "the circuit breaker of {string} went {string}",
        "The breaker's whole history of states, oldest first, from the admin API's transitions.",
        "the circuit breaker of \"value-architect\" went \"CLOSED → OPEN → HALF-OPEN → CLOSED\""),
    step!("circuit breaker", "When", "I send {method} requests to {string} until the circuit breaker of {string} is OPEN",
        "Sends requests one at a time until one comes back with X-Circuit-Breaker-State: OPEN (at most 1000).",
        "I send GET requests to \"/api/v1/value-models\" until the circuit breaker of \"value-architect\" is OPEN"),
    step!("circuit breaker", "Then", "the response's breaker state matches the admin API for {string}",
        "The last response's X-Circuit-Breaker-State equals the state the admin API shows now.",
        "the response's breaker state matches the admin API for \"value-architect\""),
    step!("load", "When", "I send {int} {method} requests to {string} at {int} per second",
        "Open model: sends N requests at a constant rate with the current token(s) and headers; latency counts from each request's intended start. Fails on any 429 (load never lifts the 100/minute rate limit).",
        "I send 100 GET requests to \"/api/v1/value-models\" at 50 per second"),
    step!("load", "When", "I send {int} {method} requests to {string} at {int} per second with JSON:",
        "Same, each request carrying the docstring below as its JSON body (writes).",
        "I send 10 POST requests to \"/api/v1/commitments\" at 10 per second with JSON:"),
    step!("load", "When", "I send {method} requests to {string} at {int} per second for {duration}",
        "Open model for a duration (rate × duration requests).",
        "I send GET requests to \"/api/v1/commitments\" at 40 per second for 2 seconds"),
    step!("load", "When", "{int} concurrent clients send {int} {method} requests to {string}",
        "Closed model: C keep-alive clients send N requests in all, each as soon as its previous response arrived.",
        "10 concurrent clients send 90 GET requests to \"/api/v1/value-models\""),
    step!("load", "Then", "the {percentile} latency is below {latency}",
        "A latency objective on the last load step (units: ms, s, µs).",
        "the p99 latency is below 50 ms"),
    step!("load", "Then", "the {percentile} latency is between {latency} and {latency}",
        "The percentile of the last load step lies in the range (inclusive).",
        "the p50 latency is between 18 ms and 30 ms"),
    step!("load", "Then", "the {percentile} latency objective of {latency} is missed by at least {latency}",
        "The objective is broken by at least this margin (the failure message gives the measured value).",
        "the p99 latency objective of 50 ms is missed by at least 100 ms"),
    step!("load", "Then", "the success ratio is at least {percent}",
        "2xx and 3xx responses over all requests of the last load step (a 401, a 429 or a request without a response is a failure).",
        "the success ratio is at least 99%"),
    step!("load", "Then", "the achieved rate is within {percent} of {int} per second",
        "Requests started per second by the last load step, within the tolerance of the target.",
        "the achieved rate is within 5% of 50 per second"),
    step!("load", "Then", "every load response has status {int}",
        "Every request of the last load step got this status (no errors).",
        "every load response has status 200"),
    step!("load", "Then", "at least {int} load responses have status {int}",
        "Counts one status over the last load step (e.g. breaker fallbacks under load).",
        "at least 90 load responses have status 503"),
    step!("load", "Then", "the {percentile} latency of the {word} responses is below {latency}",
        "A latency objective on one status class of the last load step: 2xx, 3xx, 4xx, 5xx or error.",
        "the p99 latency of the 5xx responses is below 10 ms"),
    step!("experiment", "Given", "the steady state: {string} reads {string} at {int}/s with {percentile} below {latency} and success ratio at least {percent} / the steady state: {string} writes {string} at {int}/s with {percentile} below {latency} and success ratio at least {percent} / the steady state: {string} sends {method} {string} at {int}/s with {percentile} below {latency} and success ratio at least {percent}",
        "Declares a steady-state hypothesis (SPEC §11; reads = GET, writes = POST, a JSON docstring is a write's body; either objective alone, or both in any order) and checks it holds on one window of its load before the method. `gauntlet explore` reads the same step as a hypothesis.",
        "the steady state: \"frontend-app\" reads \"/api/v1/value-models\" at 20/s with p99 below 250 ms and success ratio at least 99%"),
    step!("experiment", "Then", "the steady state holds",
        "One window of every declared steady state's load; fails naming each objective that broke (after the method, and after the rollbacks).",
        "the steady state holds"),
    step!("mesh", "When", "{string} calls {string} over the mesh",
        "Calls the destination's sidecar over mTLS as this identity (a stack identity, or a new leaf from the stack CA): GET /health for an http service, PING for a tcp one.",
        "\"value-committer\" calls \"value-architect\" over the mesh"),
    step!("mesh", "When", "{string} sends a {method} request to {string} of {string} over the mesh",
        "An HTTP request as this identity to the destination's sidecar (for L7 intentions).",
        "\"value-committer\" sends a GET request to \"/api/v1/value-models\" of \"value-architect\" over the mesh"),
    step!("mesh", "When", "{string} sends a {method} request to {string} of {string} over the mesh with header {string} set to {string}",
        "As above, with one request header.",
        "\"value-committer\" sends a GET request to \"/health\" of \"value-architect\" over the mesh with header \"x-team\" set to \"core\""),
    step!("mesh", "When", "a caller without a certificate calls {string} over the mesh",
        "Connects to the sidecar with TLS but no client certificate.",
        "a caller without a certificate calls \"value-architect\" over the mesh"),
    step!("mesh", "When", "a caller with a certificate from another CA calls {string} over the mesh",
        "Connects with a leaf from a CA that claims the same trust domain but is not the stack's.",
        "a caller with a certificate from another CA calls \"value-architect\" over the mesh"),
    step!("mesh", "Then", "the mesh call is allowed",
        "The last mesh call got through (http: any answer but the RBAC 403; tcp: a reply).",
        "the mesh call is allowed"),
    step!("mesh", "Then", "the mesh call is denied",
        "http: 403, text/plain, exactly `RBAC: access denied`; tcp: the handshake succeeded and the connection closed on the first byte.",
        "the mesh call is denied"),
    step!("mesh", "Then", "the mesh call is refused at the handshake",
        "The TLS handshake of the last mesh call failed (checked by writing and reading, as TLS 1.3 requires).",
        "the mesh call is refused at the handshake"),
    step!("mesh", "Given", "the sidecar of {string} presents the identity {string}",
        "From now on the service's sidecar presents a valid stack certificate for another identity (an impostor).",
        "the sidecar of \"value-architect\" presents the identity \"billing\""),
    step!("mesh", "Given/When", "the intention from {string} to {string} is set to {word}",
        "PUT /v1/connect/intentions/exact on the stack's catalog API with {\"Action\": allow|deny}; applies to new requests and connections.",
        "the intention from \"value-committer\" to \"value-architect\" is set to deny"),
    step!("mesh", "Given/When", "the intention from {string} to {string} is set to:",
        "As above with Consul's intention JSON (e.g. L7 Permissions) as a docstring.",
        "the intention from \"value-committer\" to \"value-architect\" is set to:"),
    step!("mesh", "When", "the intention from {string} to {string} is deleted",
        "DELETE /v1/connect/intentions/exact on the catalog API.",
        "the intention from \"value-committer\" to \"value-architect\" is deleted"),
    step!("mesh", "When", "{string} opens a connection to {string} over the mesh",
        "Opens (and checks) an mTLS connection to a tcp service, kept for later steps.",
        "\"value-committer\" opens a connection to \"redis\" over the mesh"),
    step!("mesh", "Then", "the open connection to {string} still answers",
        "The kept connection still gets a reply (an intention change does not cut an established L4 connection).",
        "the open connection to \"redis\" still answers"),
    step!("mesh", "Then", "the sidecar metric {string} of {string} is {int}",
        "Sums the service's sidecar /stats/prometheus samples of this series.",
        "the sidecar metric 'gauntlet_sidecar_rbac_denied_total{source=\"billing\"}' of \"value-architect\" is 1"),
    step!("tracing", "Then", "the last request to {string} carries a trace context",
        "The last request that reached the service had a valid W3C traceparent.",
        "the last request to \"value-architect\" carries a trace context"),
    step!("tracing", "Then", "the last request to {string} carries the trace id {string}",
        "The trace id of that traceparent.",
        "the last request to \"value-architect\" carries the trace id \"4bf92f3577b34da6a3ce929d0e0e4736\""),
    step!("tracing", "Then", "the last requests to {string} and {string} carry the same trace id",
        "One trace across the hop between the two services.",
        "the last requests to \"value-committer\" and \"value-architect\" carry the same trace id"),
];

/// The gherkin step an example stands for (for matching against the registered steps).
pub fn example_step(doc: &StepDoc) -> Step {
    let ty = match doc.keyword.split('/').next().unwrap_or_default() {
        "Given" => StepType::Given,
        "When" => StepType::When,
        _ => StepType::Then,
    };
    let docstring = doc
        .example
        .ends_with(':')
        .then(|| "{\"name\": \"x\"}".to_string());
    Step {
        keyword: format!("{} ", doc.keyword.split('/').next().unwrap_or_default()),
        ty,
        value: doc.example.to_string(),
        docstring,
        table: None,
        span: Default::default(),
        position: Default::default(),
    }
}

/// "Did you mean" for an undefined step: the closest catalog step, filled with the user's own
/// values, with the user's keyword when the step takes it (`Then the response status is 200`).
pub fn did_you_mean(step: &Step) -> Option<String> {
    let suggestion = super::suggest::suggest(&step.value)?;
    let wanted = match step.ty {
        StepType::Given => "Given",
        StepType::When => "When",
        StepType::Then => "Then",
    };
    let keyword = if suggestion.doc.keyword.split('/').any(|k| k == wanted) {
        step.keyword.trim().to_string()
    } else {
        suggestion
            .doc
            .keyword
            .split('/')
            .next()
            .unwrap_or(wanted)
            .to_string()
    };
    Some(format!("{keyword} {}", suggestion.text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::GauntletWorld;
    use cucumber::codegen::{StepConstructor, WorldInventory};
    use cucumber::World as _;

    #[test]
    fn every_catalog_example_matches_exactly_one_registered_step() {
        let collection = GauntletWorld::collection();
        for doc in CATALOG {
            let step = example_step(doc);
            match collection.find(&step) {
                Ok(Some(_)) => {}
                Ok(None) => panic!(
                    "catalog example matches no step: {} {}",
                    doc.keyword, doc.example
                ),
                Err(e) => panic!(
                    "catalog example is ambiguous: {} {}: {e:?}",
                    doc.keyword, doc.example
                ),
            }
        }
    }

    #[test]
    fn every_registered_step_is_in_the_catalog() {
        let mut registered = Vec::new();
        for s in cucumber::codegen::inventory::iter::<<GauntletWorld as WorldInventory>::Given> {
            registered.push(("Given", s.inner().1()));
        }
        for s in cucumber::codegen::inventory::iter::<<GauntletWorld as WorldInventory>::When> {
            registered.push(("When", s.inner().1()));
        }
        for s in cucumber::codegen::inventory::iter::<<GauntletWorld as WorldInventory>::Then> {
            registered.push(("Then", s.inner().1()));
        }
        for (keyword, regex) in registered {
            let documented = CATALOG.iter().any(|doc| {
                doc.keyword.split('/').any(|k| k == keyword) && regex.is_match(doc.example)
            });
            assert!(
                documented,
                "step {keyword} /{}/ has no catalog entry",
                regex.as_str()
            );
        }
    }
}

@network
Feature: Network faults on the stack's links follow the gateway's policy
  Every TCP hop of the stack is a link carrying Toxiproxy's toxics (SPEC §7.1): the client's
  connection to the gateway, the gateway's to each service, each mesh upstream. A fault on a link
  is a network fault, not an HTTP one: the gateway must treat it as Kong treats a broken or
  silent upstream connection.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @NET-1
  Scenario: A link with no toxic carries the bytes unchanged
    When I send a GET request to "/api/v1/value-models"
    And I send a GET request to "/api/v1/value-models"
    Then the last 2 responses have status 200
    And the last 2 responses have the same body
    And the link from "gateway" to "value-architect" carried 1 connection

  @NET-2
  Scenario: A reset on the gateway's link is a connection failure, retried and counted by the breaker
    Given the link from "gateway" to "value-architect" resets connections
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 502
    And "value-architect" received 0 requests
    And the gateway metric 'gauntlet_gateway_upstream_retries_total{service="value-architect"}' is 3
    And the circuit breaker of "value-architect" counts 4 consecutive failures
    When I send a GET request to "/api/v1/value-models"
    Then the response header "X-Circuit-Breaker-State" is "OPEN"
    And the circuit breaker of "value-architect" is OPEN

  @NET-3
  Scenario: A silent link ends in 504 after exactly the read timeout, not before
    # The link carries the mesh's TLS bytes: a connection opened before the link goes silent
    # (kept alive by the gateway) carries the request; the answer never comes back.
    Given the stack clock stands still
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    Given the link from "gateway" to "value-architect" goes silent
    When I start a POST request to "/api/v1/value-models"
    And the started requests have reached "value-architect"
    And 29 seconds pass
    Then the started requests are still waiting
    When 1 second passes
    And the started requests finish
    Then the response status is 504
    And the response JSON "message" is "The upstream server is timing out"

  @NET-4
  Scenario: Latency on a mesh hop slows the route that uses it and no other
    Given a latency of 300 ms on the link from "value-committer" to "value-architect"
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "b2e4c6a8-1d3f-4e5a-8b7c-9d0e1f2a3b02", "owner": "finance-team",
       "target_date": "2026-03-31", "amount": 10.0}
      """
    Then the response status is 201
    And the response took at least 300 ms
    And the link from "value-committer" to "value-architect" carried 1 connection
    And the link from "gateway" to "value-architect" carried 0 connections

  @NET-5
  Scenario: A 1-byte slicer and a bandwidth limit never change a response
    When I send a GET request to "/api/v1/value-models"
    Given the link from "gateway" to "value-architect" is sliced into 1-byte segments
    And a bandwidth limit of 200 KB/s on the link from "gateway" to "value-architect"
    When I send a GET request to "/api/v1/value-models"
    Then the last 2 responses have status 200
    And the last 2 responses have the same body

  @NET-6
  Scenario: A link that is down refuses connections until it is up again
    Given the link from "gateway" to "value-architect" is down
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 502
    And "value-architect" received 0 requests
    When the link from "gateway" to "value-architect" is up again
    And I send a GET request to "/api/v1/value-models"
    Then the response status is 200

  @NET-7
  Scenario: A response cut short by limit_data is an upstream failure
    Given the link from "gateway" to "value-architect" closes after 100 bytes
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 502

  @NET-8
  Scenario: A data store that is down degrades commitments as documented, and only them
    # value-committer writes each new commitment to postgres, then redis, and reads one by id
    # from redis (README "Data stores"): without redis it answers 503, keeping nothing.
    Given the link from "value-committer" to "redis" is down
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "b2e4c6a8-1d3f-4e5a-8b7c-9d0e1f2a3b02", "owner": "finance-team",
       "target_date": "2026-03-31", "amount": 10.0}
      """
    Then the response status is 503
    And the response JSON "error" is "commitment store unavailable: redis: connection closed before the reply"
    When I send a GET request to "/api/v1/commitments/d4a6e8c0-3f5b-4a7c-8d9e-1f2a3b4c5d04"
    Then the response status is 503
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 200
    When the link from "value-committer" to "redis" is up again
    And I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "b2e4c6a8-1d3f-4e5a-8b7c-9d0e1f2a3b02", "owner": "finance-team",
       "target_date": "2026-03-31", "amount": 10.0}
      """
    Then the response status is 201
    When I send a GET request to "/api/v1/commitments/d4a6e8c0-3f5b-4a7c-8d9e-1f2a3b4c5d04"
    Then the response status is 200
    And the link from "value-committer" to "redis" carried 2 connections

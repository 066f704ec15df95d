@mesh
Feature: Only the stack's identities complete a handshake, and callers check whom they reach
  A sidecar's public listener refuses a caller with no certificate, or with one from another CA,
  at the TLS handshake. A caller (the gateway, a service's upstream listener) refuses a sidecar
  whose certificate carries another SPIFFE identity than the one it wants to reach.

  Background:
    Given the stack is running

  @MESH-2 @OBS-1
  Scenario: A caller without a certificate is refused at the handshake
    When a caller without a certificate calls "value-architect" over the mesh
    Then the mesh call is refused at the handshake
    And the sidecar metric 'gauntlet_sidecar_tls_handshake_failures_total{reason="no_client_certificate"}' of "value-architect" is 1

  @MESH-2
  Scenario: A caller with a certificate from another CA is refused at the handshake
    When a caller with a certificate from another CA calls "value-architect" over the mesh
    Then the mesh call is refused at the handshake
    And the sidecar metric 'gauntlet_sidecar_tls_handshake_failures_total{reason="unknown_ca"}' of "value-architect" is 1

  @MESH-2
  Scenario: A tcp service refuses a caller without a certificate too
    When a caller without a certificate calls "redis" over the mesh
    Then the mesh call is refused at the handshake
    And the sidecar metric 'gauntlet_sidecar_tls_handshake_failures_total{reason="no_client_certificate"}' of "redis" is 1

  @MESH-4 @OBS-1
  Scenario: The gateway and value-committer's upstream listener refuse an impostor value-architect
    Given I have a valid token for "admin-user"
    And the sidecar of "value-architect" presents the identity "billing"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 502
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 502
    And "value-architect" received 0 requests
    And the sidecar metric 'gauntlet_sidecar_upstream_connections_total{destination="value-architect",outcome="identity_mismatch"}' of "value-committer" is 1

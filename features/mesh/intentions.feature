@mesh
Feature: Services talk over mTLS, and only the pairs the intentions allow get through
  Every service sits behind a sidecar whose public listener requires a client certificate from
  the stack's CA and reads the caller's identity from its SPIFFE URI SAN. The valueverse
  intentions (scenarios/valueverse/intentions.hcl) allow value-committer and value-architect to
  call each other, the gateway (api-gateway) to call both, and value-committer alone to reach
  its data stores postgres and redis; everything else is denied (zero trust).

  Background:
    Given the stack is running

  @MESH-1 @MESH-3
  Scenario Outline: An allowed pair gets through
    When "<source>" calls "<destination>" over the mesh
    Then the mesh call is allowed

    Examples:
      | source          | destination     |
      | value-committer | value-architect |
      | value-architect | value-committer |
      | api-gateway     | value-architect |
      | api-gateway     | value-committer |
      | value-committer | postgres        |
      | value-committer | redis           |

  @MESH-3
  Scenario Outline: Every other pair is denied with Envoy's RBAC answer
    When "<source>" calls "<destination>" over the mesh
    Then the mesh call is denied

    Examples:
      | source          | destination     |
      | billing         | value-architect |
      | billing         | value-committer |
      | postgres        | value-architect |
      | redis           | value-committer |
      | value-committer | value-committer |
      | value-architect | postgres        |
      | billing         | redis           |
      | api-gateway     | postgres        |

  @MESH-1 @OBS-1
  Scenario: The gateway and value-committer reach value-architect with their own identities
    Given I have a valid token for "admin-user"
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 201
    And the sidecar metric 'gauntlet_sidecar_rbac_allowed_total{source="api-gateway"}' of "value-committer" is 1
    And the sidecar metric 'gauntlet_sidecar_rbac_allowed_total{source="value-committer"}' of "value-architect" is 1
    And the sidecar metric 'gauntlet_sidecar_http_responses_total{source="api-gateway",code="201"}' of "value-committer" is 1

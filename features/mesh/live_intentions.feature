@mesh
Feature: Intentions change on a running stack
  An intention written through the catalog API (Consul's PUT /v1/connect/intentions/exact)
  applies to the next request or connection, without a restart; a tcp connection that is
  already established is not cut (Consul's documented behaviour).

  Background:
    Given the stack is running

  @MESH-5
  Scenario: Denying value-committer → value-architect makes creating a commitment fail, and allowing it again heals it
    Given I have a valid token for "admin-user"
    When I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 201
    When the intention from "value-committer" to "value-architect" is set to deny
    And I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 502
    And the response JSON "error" is "value-architect unavailable: 403 Forbidden: RBAC: access denied"
    When the intention from "value-committer" to "value-architect" is set to allow
    And I send a POST request to "/api/v1/commitments" with JSON:
      """
      {"value_model_id": "6f1d2c3b-8a4e-4f7b-9c2d-1e5a7b3c9d01", "owner": "finance", "target_date": "2027-03-31", "amount": 1000}
      """
    Then the response status is 201

  @MESH-5
  Scenario: A tcp deny applies to new connections; the open one keeps working
    When "value-committer" opens a connection to "redis" over the mesh
    And the intention from "value-committer" to "redis" is set to deny
    And "value-committer" calls "redis" over the mesh
    Then the mesh call is denied
    And the sidecar metric 'gauntlet_sidecar_rbac_denied_total{source="value-committer",protocol="tcp"}' of "redis" is 1
    And the open connection to "redis" still answers

  @MESH-5
  Scenario: Allowing a pair lets it through at once
    Given the intention from "billing" to "value-architect" is set to deny
    When "billing" calls "value-architect" over the mesh
    Then the mesh call is denied
    When the intention from "billing" to "value-architect" is set to allow
    And "billing" calls "value-architect" over the mesh
    Then the mesh call is allowed

  @MESH-3
  Scenario: Deleting an allowing intention leaves the pair denied (zero trust)
    When the intention from "value-architect" to "value-committer" is deleted
    And "value-architect" calls "value-committer" over the mesh
    Then the mesh call is denied

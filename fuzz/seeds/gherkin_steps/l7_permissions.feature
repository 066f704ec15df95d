@mesh
Feature: L7 intentions match path, method and header, first match wins
  An intention with Permissions is evaluated per request: the first permission whose HTTP match
  fits decides; a request no permission matches gets the default (deny).

  Background:
    Given the stack is running
    And the intention from "billing" to "value-architect" is set to:
      """
      {"Permissions": [
        {"Action": "deny",  "HTTP": {"PathPrefix": "/api/v1/value-models/_echo"}},
        {"Action": "allow", "HTTP": {"PathPrefix": "/api/v1/value-models", "Methods": ["GET"]}},
        {"Action": "allow", "HTTP": {"PathExact": "/health", "Header": [{"Name": "x-team", "Exact": "finance"}]}}
      ]}
      """

  @MESH-6
  Scenario: A path prefix and method permission lets reads through and nothing else
    When "billing" sends a GET request to "/api/v1/value-models" of "value-architect" over the mesh
    Then the mesh call is allowed
    When "billing" sends a POST request to "/api/v1/value-models" of "value-architect" over the mesh
    Then the mesh call is denied

  @MESH-6
  Scenario: The first matching permission wins
    When "billing" sends a GET request to "/api/v1/value-models/_echo" of "value-architect" over the mesh
    Then the mesh call is denied

  @MESH-6
  Scenario: A header permission needs the header
    When "billing" sends a GET request to "/health" of "value-architect" over the mesh
    Then the mesh call is denied
    When "billing" sends a GET request to "/health" of "value-architect" over the mesh with header "x-team" set to "finance"
    Then the mesh call is allowed

  @MESH-6
  Scenario: An earlier allow wins over a later deny that also matches
    Given the intention from "billing" to "value-committer" is set to:
      """
      {"Permissions": [
        {"Action": "allow", "HTTP": {"PathPrefix": "/api/v1/commitments"}},
        {"Action": "deny",  "HTTP": {"PathPrefix": "/api/v1/commitments/_echo"}}
      ]}
      """
    When "billing" sends a GET request to "/api/v1/commitments/_echo" of "value-committer" over the mesh
    Then the mesh call is allowed

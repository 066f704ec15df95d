@routing
Feature: Kong 3's router picks the route
  Kong 3 (router_flavor traditional_compatible, its default) turns each route into an expression
  over the request's method, Host, headers and path, and a priority: more fields set, then plain
  hosts over wildcards, then more headers, then regex paths ordered by regex_priority, then the
  longest prefix (kong/router/transform.lua `get_expression`, `get_priority`). The tables below are
  the valueverse routing lab (kong.yml `lab-*` services): each lab service sends to value-architect
  under a path naming its route, so the echo shows which route a request took. The cases follow
  Kong's own router tests (spec/01-unit/08-router_spec.lua).

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"

  @ROUTE-1
  Scenario: A request no route matches gets Kong's 404
    When I send a GET request to "/nowhere/_echo"
    Then the response status is 404
    And the response JSON "message" is "no Route matched with those values"
    And the response header "X-Kong-Request-Id" matches "[0-9a-f]{32}"
    And the response header "Server" is "gauntlet"

  @ROUTE-2 @ROUTE-3
  Scenario Outline: Host <host> takes route <route> (<why>)
    Given the request header "Host" is "<host>"
    When I send a GET request to "/lab/_echo"
    Then the response status is 200
    And the response JSON "path" is "/<route>/_echo"

    Examples:
      | host                       | route             | why                                                   |
      | 127.0.0.1                  | lab-prefix        | no host route matches: the path-only route            |
      | api.valueverse.test        | lab-host          | the exact host: hosts and paths beat paths alone      |
      | api.valueverse.test:8000   | lab-host          | a route host without a port ignores the request's     |
      | shop.valueverse.test       | lab-wildcard-host | a leading wildcard matches any subdomain              |
      | valueverse.test            | lab-prefix        | `*.valueverse.test` needs a label before the dot      |
      | admin.valueverse.test:8443 | lab-host-port     | host and port: the plain host beats the wildcard      |
      | admin.valueverse.test:9000 | lab-wildcard-host | the wrong port: only the wildcard still matches       |

  @ROUTE-2 @ROUTE-3
  Scenario Outline: Headers <version> and <tenant> take route <route> (<why>)
    Given the request header "X-Api-Version" is "<version>"
    And the request header "X-Tenant" is "<tenant>"
    When I send a GET request to "/lab/_echo"
    Then the response status is 200
    And the response JSON "path" is "/<route>/_echo"

    Examples:
      | version | tenant  | route           | why                                                 |
      | v2      | globex  | lab-header      | one listed value of the one header                  |
      | V3      | globex  | lab-header      | values compare case-insensitively                   |
      | v4      | globex  | lab-prefix      | an unlisted value: the path-only route              |
      | v2      | ACME-eu | lab-two-headers | both headers (a `~*` regex on the lower-cased value) |
      | v3      | acme-eu | lab-header      | the two-header route lists only v2                  |

  @ROUTE-3
  Scenario: A plain host outranks a header when both routes match
    Given the request header "Host" is "api.valueverse.test"
    And the request header "X-Api-Version" is "v2"
    When I send a GET request to "/lab/_echo"
    Then the response JSON "path" is "/lab-host/_echo"

  @ROUTE-3
  Scenario: A route naming the method outranks the same path without one
    When I send a POST request to "/lab/_echo"
    Then the response status is 200
    And the response JSON "path" is "/lab-post/_echo"

  @ROUTE-3 @ROUTE-4
  Scenario Outline: Path <path> takes route <route> (<why>)
    When I send a GET request to "<path>"
    Then the response status is 200
    And the response JSON "path" is "<upstream path>"

    Examples:
      | path                            | route              | upstream path                     | why                                          |
      | /lab/orders/_echo               | lab-prefix         | /lab-prefix/orders/_echo          | only the short prefix matches                |
      | /lab/orders/archive/_echo       | lab-long-prefix    | /lab-long-prefix/_echo            | the longer prefix wins                       |
      | /lab/orders/42/_echo            | lab-regex          | /lab-regex/_echo                  | a regex beats any prefix; its match stripped |
      | /lab/orders/42/items/_echo      | lab-regex-priority | /lab-regex-priority/_echo         | of two regexes the higher regex_priority     |
      | /lab/keep/_echo                 | lab-keep-path      | /lab-keep-path/lab/keep/_echo     | strip_path false keeps the whole path        |
      | /lab/../lab/orders/archive/_echo | lab-long-prefix   | /lab-long-prefix/_echo            | the router matches the normalized path       |
      | /laboratory/_echo               | lab-prefix         | /lab-prefix/oratory/_echo         | a prefix is a string prefix, not a segment   |

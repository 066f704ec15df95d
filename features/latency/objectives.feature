@latency @serial
Feature: Latency objectives on the healthy stack
  Load steps send many requests through the gateway on Gauntlet's load engine, record HDR
  histograms (each load step appears in the report as a percentile plot, a table and an
  HdrHistogram interval log) and state objectives on them. "At N per second" is the open model:
  requests are due at a constant rate and each one's latency counts from when it was due, so a
  stalled service shows in every request it delayed. "Concurrent clients" is the closed model.

  The scenarios run one at a time (@serial): a latency objective measured while dozens of other
  scenarios share the machine would measure the machine. Each consumer may send 100 requests a
  minute and load steps never lift that limit, so every scenario stays within one consumer's
  minute, starting at the minute boundary. What a percentile means depends on how many samples
  it has, not on how slowly they were sent: each scenario sends its samples at a brisk rate, so
  the suite spends as little time as possible alone.

  Background:
    Given the stack is running
    And I have a valid token for "admin-user"
    And the clock reaches the start of the next minute

  @LAT-1
  Scenario: Reading value models at a steady rate meets its objectives
    When I send 100 GET requests to "/api/v1/value-models" at 200 per second
    Then every load response has status 200
    And the success ratio is at least 99%
    And the achieved rate is within 5% of 200 per second
    And the p50 latency is below 25 ms
    And the p99 latency is below 100 ms

  @LAT-1
  Scenario: Commitments hold their objectives for a duration
    When I send GET requests to "/api/v1/commitments" at 160 per second for 500 ms
    Then every load response has status 200
    And the achieved rate is within 5% of 160 per second
    And the p50 latency is below 25 ms
    And the p99 latency is below 100 ms

  @LAT-1
  Scenario: Ten concurrent clients stay within the objectives
    When 10 concurrent clients send 90 GET requests to "/api/v1/value-models"
    Then the success ratio is at least 100%
    And every load response has status 200
    And the p99 latency is below 150 ms

  @LAT-1
  Scenario: A frontend consumer reading value models meets the same objectives
    Given I have a valid token for "frontend-app"
    When I send 100 GET requests to "/api/v1/value-models" at 200 per second
    Then every load response has status 200
    And the p99 latency is below 100 ms

  @LAT-1
  Scenario: Successful responses alone meet the objective
    When I send 60 GET requests to "/api/v1/value-models" at 200 per second
    Then at least 60 load responses have status 200
    And the p99 latency of the 2xx responses is below 100 ms

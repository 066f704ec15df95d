@auth
Feature: Tokens signed with every asymmetric algorithm Kong 3.x accepts
  Kong's jwt plugin verifies RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA tokens with the
  credential's `rsa_public_key` (kong/plugins/jwt/jwt_parser.lua `alg_verify`). The partner
  consumers of the valueverse stack each hold one such credential; their private keys are in
  features/auth/keys/ (test-only keys).

  Background:
    Given the stack is running

  @AUTH-6
  Scenario Outline: A <algorithm> token signed with the consumer's private key is proxied
    Given I have a valid token for "<consumer>" signed with the private key "features/auth/keys/<private key>"
    When I send a GET request to "/api/v1/value-models/_echo"
    Then the response status is 200
    And the service received the header "X-Consumer-Username" with value "<consumer>"

    Examples:
      | algorithm | consumer       | private key         |
      | RS256     | partner-rs256  | rsa-private.pem     |
      | PS512     | partner-ps512  | rsa-private.pem     |
      | ES256     | partner-es256  | ec-p256-private.pem |
      | ES384     | partner-es384  | ec-p384-private.pem |
      | ES512     | partner-es512  | ec-p521-private.pem |
      | EdDSA     | partner-eddsa  | ed25519-private.pem |

  @AUTH-6
  Scenario Outline: A <algorithm> token signed with another key gets 401 Invalid signature
    Given I have a valid token for "<consumer>" signed with the private key "features/auth/keys/<other key>"
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"message": "Invalid signature"}
      """
    And the response header "WWW-Authenticate" is 'Bearer error="invalid_token"'

    Examples:
      | algorithm | consumer       | other key             |
      | RS256     | partner-rs256  | rsa-other-private.pem |
      | PS512     | partner-ps512  | rsa-other-private.pem |
      | ES256     | partner-es256  | ec-p256-other-private.pem |
      | EdDSA     | partner-eddsa  | ed25519-other-private.pem |

  @AUTH-6
  Scenario: The algorithm-confusion attack is refused
    # An HS256 token whose HMAC key is the RS256 credential's public key: Kong compares the
    # token's alg with the credential's before any signature check.
    Given I have an HS256 token for "partner-rs256" signed with its public key as the secret
    When I send a GET request to "/api/v1/value-models"
    Then the response status is 401
    And the response JSON is:
      """
      {"message": "Invalid algorithm"}
      """

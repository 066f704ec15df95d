# An open mesh: every service may call every other one (`*` → `*` allow, precedence 5).
# A negative control for the valueverse intentions: MESH-3 denials must fail against it.
Kind = "service-intentions"
Name = "*"
Sources = [
  {
    Name   = "*"
    Action = "allow"
  }
]

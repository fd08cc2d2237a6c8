# quoted.nomad.hcl — an argument with a space, quoted for the jail's sh as
# jobs for the bsdpot driver quote it: `args = ["'a b'"]` reaches the
# program as one argument, `a b`, without the quotes. (The e2e suite runs
# its web server, which prints its arguments: see readme.nomad.hcl.)

variable "image_url" {
  type    = string
  default = "https://potluck.honeyguide.net/nginx-nomad"
}

variable "image" {
  type    = string
  default = "nginx-nomad-amd64-13_1"
}

variable "tag" {
  type    = string
  default = "1.1.13"
}

variable "nginx" {
  description = "The program: nginx in the image (the e2e suite: its web server)."
  type        = string
  default     = "nginx"
}

variable "port" {
  description = "The port it listens on in the jail (nginx's 80; the web server's 8080)."
  type        = string
  default     = "80"
}


job "bsdpot-quoted" {
  type = "service"

  group "group1" {
    network {
      port "http" {}
    }

    task "quoted" {
      driver = "pot"

      config {
        image   = var.image_url
        pot     = var.image
        tag     = var.tag
        command = var.nginx
        args    = ["'a b'"]

        port_map = {
          http = var.port
        }
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}

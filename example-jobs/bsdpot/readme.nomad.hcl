# readme.nomad.hcl — the bsdpot driver's README example, in that driver's
# dialect, run unchanged by this driver: `command = "nginx"` with
# `args = ["-g", "'daemon off;'"]`, the quotes written for the jail's sh.
# command and args are joined by spaces into the jail's command line, so
# nginx gets two arguments: -g and `daemon off;`.
#
# Changed from that README only where Nomad 1.x requires it (the network
# block is the group's) and for the tests: the end-to-end suite runs its
# web server where this job runs nginx (-var nginx=PATH); it takes -g as
# nginx does, listens on 8080 and prints the arguments it got.

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

job "bsdpot-readme" {
  type = "service"

  group "group1" {
    count = 1

    network {
      port "http" {}
    }

    task "www1" {
      driver = "pot"

      service {
        tags     = ["nginx", "www"]
        name     = "bsdpot-readme"
        port     = "http"
        provider = "consul"

        check {
          type     = "tcp"
          name     = "tcp"
          interval = "5s"
          timeout  = "2s"
        }
      }

      config {
        image   = var.image_url
        pot     = var.image
        tag     = var.tag
        command = var.nginx
        args    = ["-g", "'daemon off;'"]

        port_map = {
          http = var.port
        }
      }

      resources {
        cpu    = 200
        memory = 64
      }
    }
  }
}

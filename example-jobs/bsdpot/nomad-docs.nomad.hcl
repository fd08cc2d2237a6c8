# nomad-docs.nomad.hcl — the form of the pot driver page in Nomad's
# documentation: `args = ["-g 'daemon off;'"]`, one element holding what
# the jail's sh splits into -g and `daemon off;`. Joined into the jail's
# command line as the bsdpot driver joins it, it reaches nginx as those two
# arguments. (The e2e suite runs its web server as nginx: see readme.nomad.hcl.)

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


job "bsdpot-nomad-docs" {
  type = "service"

  group "group1" {
    network {
      port "http" {}
    }

    task "nginx-pot" {
      driver = "pot"

      config {
        image   = var.image_url
        pot     = var.image
        tag     = var.tag
        command = var.nginx
        args    = ["-g 'daemon off;'"]

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
